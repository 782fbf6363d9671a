"""The app's service layer: storage (SQLAlchemy models, alembic migrations), note, suggestion and
decision services, exporters and evidence rendering. Pages call these functions, never SQL or torch.
"""
