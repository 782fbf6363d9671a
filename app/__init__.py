"""PLANT Coder's review app: Streamlit pages on top of a small service layer (`app.services`).

Start it with `streamlit run app/main.py`; pages call services, services call `plant_core`.
"""
