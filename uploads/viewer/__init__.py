"""Viewer: the slice viewer's page and the data it loads (manifest, server-rendered PNG
slices through a cache, attributes, radiotherapy overlay), slice tokens, pre-rendering.
"""

#: Modules other parts may import; the rest are this part's internals
#: (``tests/test_architecture.py`` checks it).
PUBLIC = ("rendering", "tasks")
