"""`service/` is the source folder, not a package: the code is the `cpt64640_cds` package inside it."""

raise ImportError("service/ is only the source folder; import cpt64640_cds (installed by `make run`)")
