from django.apps import AppConfig


class ArenaConfig(AppConfig):
    name = "arena"
    verbose_name = "Arena"

    def ready(self) -> None:
        # A mistyped ARENA_RATE_LIMITS / ARENA_POW_AFTER stops start-up with a clear message,
        # rather than surfacing on the first battle.
        from arena.services.ratelimits import limiter, policy

        if policy().enabled:
            limiter()  # built (its storage's client imported) before any request thread needs it
