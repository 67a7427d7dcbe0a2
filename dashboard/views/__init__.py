"""The dashboard's pages, one function each, drawn from one analytics report."""
