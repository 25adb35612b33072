"""QA tools: replay recorded calls, run scripted callers, score runs and write reports."""
