from django.apps import AppConfig


class JobsConfig(AppConfig):
    name = "jobs"
    verbose_name = "Tuning"

    def ready(self):
        from jobs import access_signals, checks, realtime  # noqa: F401 (checks registers itself)

        realtime.add_sink(realtime.channel_layer_sink)
        access_signals.connect()
