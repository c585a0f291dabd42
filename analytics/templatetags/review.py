"""{{ note.text|markdown }}: analytics.markdown as a template filter."""

from django import template

from analytics.markdown import render_markdown

register = template.Library()

register.filter("markdown", render_markdown)
