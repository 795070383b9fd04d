"""The docs: Markdown pages in content/ rendered at /api/..., and /llms.txt and /llms-full.txt
made from the same source (decisions.md §9)."""
