"""Read stage: extracts (XML, CSV) read as a stream of :class:`Record`, validation and rejects.

``open_records(InputConfig.from_dict(table, base_dir))`` streams records; ``validate_record`` checks
them against ``FieldSpec``\\ s; ``RejectWriter`` writes the rejected ones byte for byte with reasons.
"""
from .config import CsvOptions, InputConfig, open_records
from .model import Record

__all__ = ["CsvOptions", "InputConfig", "Record", "open_records"]
