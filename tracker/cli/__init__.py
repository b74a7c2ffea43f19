"""The ``tracker`` command: browse the store, ask the lineage questions, export graphs, check the store.

Every command takes ``--store URL`` (else ``$TRACKER_URL``, else ``./.tracker/mlmd.sqlite``) and
``--json``. Commands import the store only when they run, so ``tracker --help`` is instant.
"""

from __future__ import annotations

import click

from tracker.cli import admin, answers, browse
from tracker.cli import cache as cache_commands
from tracker.cli._output import common

COMMANDS = [
    browse.runs,
    browse.executions,
    browse.artifacts,
    browse.contexts,
    browse.show,
    answers.lineage,
    answers.datasets,
    answers.params,
    answers.metrics,
    answers.run_of,
    answers.models,
    answers.compare,
    answers.env,
    cache_commands.cache,
    admin.delete,
    admin.recover,
    admin.doctor,
]


class _Ordered(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return [c.name for c in COMMANDS if c.name]


@click.group(cls=_Ordered, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(package_name="mlmd-tracker", prog_name="tracker")
@common
def cli() -> None:
    """Browse a tracker (MLMD) store and ask it lineage questions.

    \b
    Questions, each one command (ids are artifact ids):
      1. which data trained this model?    tracker datasets MODEL_ID
      2. with which hyperparameters?       tracker params MODEL_ID
      3. what were its metrics?            tracker metrics MODEL_ID
      4. which run made it?                tracker run-of MODEL_ID
      5. which models used this data?      tracker models DATASET_ID
      6. how do runs compare?              tracker compare RUN RUN...
      7. which library versions?           tracker env MODEL_ID
    """


for _command in COMMANDS:
    cli.add_command(_command)


def main() -> None:
    """The console script's entry point."""
    cli(prog_name="tracker")
