"""Serving the Flask app: gunicorn (`gunicorn.py`) with a worker whose own errors are OperationOutcomes
(`worker.py`, in the words of `outcomes.py`), behind nginx as the buffering front (`front.py`)."""
