"""Read stage: extracts (XML, CSV) read as a stream of :class:`Record`, validation and rejects."""
from .model import Record

__all__ = ["Record"]
