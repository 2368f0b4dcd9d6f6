"""Reports: Markdown and HTML beside the results database, and a JSON summary."""
