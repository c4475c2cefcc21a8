"""Every task goes to the queue of its kind, so a reconciliation never delays a webhook."""

from config import queues
from config.celery_app import app as celery_app


def _our_tasks() -> set[str]:
    celery_app.loader.import_default_modules()
    return {name for name in celery_app.tasks if not name.startswith("celery.")}


def test_every_task_of_ours_has_a_queue_and_every_route_names_a_task():
    assert _our_tasks() == set(queues.TASK_QUEUES)


def test_money_paths_and_reconciliation_never_share_a_queue():
    assert queues.TASK_QUEUES["outbox.tasks.deliver"] == queues.PAYMENTS
    assert queues.TASK_QUEUES["outbox.tasks.apply"] == queues.PAYMENTS
    assert queues.TASK_QUEUES["reconciliation.tasks.execute_run"] == queues.RECONCILIATION


def test_a_task_is_published_to_its_queue_under_the_runs_prefix(settings):
    route = celery_app.amqp.router.route({}, "reconciliation.tasks.execute_run")
    assert route["queue"].name == settings.CELERY_QUEUE_PREFIX + queues.RECONCILIATION
    route = celery_app.amqp.router.route({}, "outbox.tasks.deliver")
    assert route["queue"].name == settings.CELERY_QUEUE_PREFIX + queues.PAYMENTS
