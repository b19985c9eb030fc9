"""Config delivery: the ADS server (SotW and Delta) and the S3 file-mode agent."""
