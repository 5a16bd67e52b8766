"""The test suite: a regular package, so that `tests` here wins over any top-level
`tests` package a dependency installs (Hershey-Fonts ships one)."""
