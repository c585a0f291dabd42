"""jobs.formatting as template filters: {{ seconds|duration }}, {{ value|number }}, {{ moment|timestamp }}.

Every filter returns plain text, never marked safe: the template escapes it.
"""

from django import template

from jobs import formatting

register = template.Library()

register.filter("duration", formatting.duration)
register.filter("number", formatting.number)
register.filter("timestamp", formatting.timestamp)
register.filter("percent", formatting.percent)
register.filter("cell", formatting.cell)
