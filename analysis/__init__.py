"""lossbench analysis: reads study runs back from MLflow (never imports Ray, never trains),
compares each candidate loss with the reference (`analysis.stats`), across settings
(`analysis.trends`, `analysis.meta`) and look by look (`analysis.sequential`), and writes the
report (`analysis.report`)."""
