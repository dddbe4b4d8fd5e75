"""Files the product reads and writes, within bounds: the ground floor for every package that touches disk.

- :mod:`~core.files.table_io`: table formats by extension, bounded reading, atomic writing;
- :mod:`~core.files.bounded_read`: a regular file read within a size cap (never a device, pipe or huge file);
- :mod:`~core.files.bounded_json`: JSON written by users, parsed within size and depth caps;
- :mod:`~core.files.directories`: a product directory zipped for download, or removed in one step.

Imports only :mod:`core.errors`.
"""
