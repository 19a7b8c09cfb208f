"""HTTP routes: the seeds' route tables, thin over the courtroom service."""
