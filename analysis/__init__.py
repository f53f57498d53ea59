"""lossbench analysis: reads study runs back from MLflow (never imports Ray, never trains).

Loading, paired statistics and reports are built in the analysis issue; until then use the
MLflow UI (`study ui`) or `mlflow.search_runs` on the study's experiment.
"""
