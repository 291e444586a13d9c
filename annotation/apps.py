from django.apps import AppConfig


class AnnotationConfig(AppConfig):
    name = "annotation"
    verbose_name = "Labels and raters"

    def ready(self) -> None:
        from annotation import receivers  # noqa: F401  (connects to core.signals)
