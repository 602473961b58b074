"""The `starbatch` command line: one Typer app, one module per command group. Heavy modules (torch,
ray) are imported inside the commands so `starbatch --help` stays instant; nothing imports this
package back."""

import sys

import typer

from starbatch.cli import edit, models, train, video
from starbatch.cli.common import one_line_errors

app = typer.Typer(
    name="starbatch",
    help="Edit facial attributes in whole photo folders and videos with StarGAN.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # plain click help: rich alone took longer to import than the rest of `--help`
)

for name, command in [("edit", edit.edit), ("convert", models.convert), ("info", models.info),
                      ("video", video.video), ("make-faces", train.make_faces), ("train", train.train),
                      ("eval", train.evaluate)]:  # fmt: skip
    app.command(name)(one_line_errors(command))


def main() -> None:
    app(prog_name="starbatch")


if __name__ == "__main__":
    sys.exit(main())
