"""Images: the content-addressed image store and everything that reads or writes it.

    refs.py      image references (`[registry/]name[:tag][@digest]`, Hub short names, ids, id
                 prefixes): parsing and validation
    changes.py   Dockerfile-like changes (`CMD ["sh"]`, `ENV K=V` ...) applied to a config
    extract.py   safe, streaming extraction of an untrusted layer tar (the security boundary)
    diff.py      a layer tar built from an overlayfs upper directory (for commit)
    store.py     ImageStore and Image: layers (and their blobs), configs kept byte for byte,
                 rocker's bookkeeping beside them, references and digest references, import,
                 commit, tag, remove
    oci.py       OCI/Docker formats: media types, manifests, indexes, platform selection
    registry.py  the distribution API v2 client: pull, push, login (http.client)
    auth.py      registry credentials: rocker's auth file, podman's and Docker's read too
    archive.py   load (docker-archive, oci-archive, OCI layouts) and save (both at once)
    export.py    a container's files merged from its layers in user space (`rocker export`)
    progress.py  per-layer progress bars / lines of pull, push, load and save

Importing this package has no side effects; heavy modules (tarfile, compression) are imported
only by the functions that need them, because `rocker run` imports rocker.images.store.
"""
