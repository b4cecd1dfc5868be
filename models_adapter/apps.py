from django.apps import AppConfig


class ModelsAdapterConfig(AppConfig):
    name = "models_adapter"
    verbose_name = "Model adapters"
