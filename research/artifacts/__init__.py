"""Artifacts: registered tables and figures, named values, the report and the manifest.

Renderers read tidy result frames only and never compute statistics.
"""
