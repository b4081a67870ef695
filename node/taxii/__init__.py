"""TAXII 2.1 server: the blueprint `create_app` registers (discovery at /taxii2/)."""
from .routes import blueprint

__all__ = ["blueprint"]
