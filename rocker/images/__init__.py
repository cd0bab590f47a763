"""Images: the content-addressed image store and everything that reads or writes it.

    refs.py      image references (`name[:tag]`, ids, id prefixes): parsing and validation
    changes.py   Dockerfile-like changes (`CMD ["sh"]`, `ENV K=V` ...) applied to a config
    sizes.py     human sizes (`2.5MB`) and image dates
    extract.py   safe, streaming extraction of an untrusted layer tar (the security boundary)
    diff.py      a layer tar built from an overlayfs upper directory (for commit)
    store.py     ImageStore and Image: layers, configs, references, import, commit, tag, remove

Importing this package has no side effects; heavy modules (tarfile, compression) are imported
only by the functions that need them, because `rocker run` imports rocker.images.store.
"""
