"""Reading extracts and writing de-identified output, one module per concern.

:mod:`.types` holds what every reader and the engine share (chunks, cells, the
:class:`~.types.Source` protocol), so a reader never imports another reader and the
dispatcher, :mod:`.sources`, is the only module that knows them all. The binary formats
(:mod:`.columnar`) are imported only when an extract needs them: a CSV run never loads
pyarrow or openpyxl. Nothing is re-exported here, for the same reason.
"""
