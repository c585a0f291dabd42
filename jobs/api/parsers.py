"""The API's JSON parser: DRF's, with the nesting bound every JSON entry point shares (jobs.jsonbody)."""

from rest_framework import exceptions, parsers

from jobs import jsonbody


class JSONParser(parsers.JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        try:
            return jsonbody.bounded(lambda: super(JSONParser, self).parse(stream, media_type, parser_context))
        except jsonbody.JSONBodyError as exc:
            raise exceptions.ParseError(str(exc)) from None
