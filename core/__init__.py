"""The shared core every room stands on: SQL quoting (sqlutil), configuration errors (configerrors), safe
files inside the home (homefiles) and the country's reference (country). It imports no other room."""
