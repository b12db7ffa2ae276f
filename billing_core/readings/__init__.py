"""Reading books, meters and meter readings (抄表)."""
