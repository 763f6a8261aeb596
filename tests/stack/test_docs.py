"""scripts/check_docs.py: the docs checker finds a broken link, a missing heading and a
command nobody runs, and passes the docs as they are."""

import sys

from conftest import REPO

sys.path.insert(0, str(REPO / "scripts"))

from check_docs import (RUN_ELSEWHERE, broken_links, place_commands,  # noqa: E402
                        readme_commands, slug)


def test_the_docs_links_all_resolve():
    """Ensure README.md's and docs/'s relative links lead to files and headings that exist."""
    assert broken_links([REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]) == []


def test_a_broken_link_and_a_missing_heading_are_found(tmp_path):
    """Ensure the control fails: a link to no file, and an anchor to no heading."""
    (tmp_path / "other.md").write_text("# The other page\n\n## How it runs, and why\n")
    page = tmp_path / "page.md"
    page.write_text("[ok](other.md#how-it-runs-and-why) [web](https://example.com/x)\n"
                    "[gone](missing.md) [no heading](other.md#nowhere)\n")
    found = broken_links([page])
    assert len(found) == 2
    assert "missing.md (no such file)" in found[0]
    assert "other.md#nowhere (no such heading)" in found[1]


def test_slugs_are_github_anchors():
    """Ensure headings become the anchors GitHub gives them."""
    assert slug("How migrations run, and why") == "how-migrations-run-and-why"
    assert slug("The client (`services/client`)") == "the-client-servicesclient"


def test_shell_blocks_give_their_commands_without_comments():
    """Ensure commands come out of ```sh blocks only, comments and continuations handled."""
    text = ("```sh\nmake run    # serve\n# a comment\n\npython manage.py \\\n  seed_db\n```\n"
            "```\nnot a shell block\n```\n")
    assert readme_commands(text) == ["make run", "python manage.py    seed_db"]


def test_a_command_nobody_runs_fails():
    """Ensure a README command that is neither run here nor by a named step is a failure."""
    failures, to_run = place_commands(["python manage.py seed_db", "curl http://x", "make test"])
    assert to_run == ["python manage.py seed_db"]
    assert len(failures) == 1 and failures[0].startswith("curl http://x: README gives it")


def test_every_command_in_readme_is_placed():
    """Ensure README's commands all run here or name the step that runs them."""
    failures, to_run = place_commands(readme_commands((REPO / "README.md").read_text()))
    assert failures == []
    assert "make test" in RUN_ELSEWHERE and to_run
