"""notebooks/: the walkthrough runs top to bottom on a real (tiny) finished run."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from .conftest import REPO


@pytest.mark.slow
def test_walkthrough_executes_for_the_run_given_as_its_parameter(
    tiny_ckpt: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run_dir = tiny_ckpt.parents[1]
    notebook = nbformat.read(REPO / "notebooks" / "walkthrough.ipynb", as_version=4)
    (index,) = [
        i for i, c in enumerate(notebook.cells) if "parameters" in c.metadata.get("tags", [])
    ]
    assert "RUN = " in notebook.cells[index].source
    # What papermill's `-p RUN <dir>` does: a cell after the tagged one sets the parameter. It
    # wins over the environment variable, set here to a run that does not exist.
    monkeypatch.setenv("GENRE_LIGHTNING_RUN", str(run_dir / "no-such-run"))
    injected = nbformat.v4.new_code_cell(f"RUN = {str(run_dir)!r}")
    injected.metadata["tags"] = ["injected-parameters"]
    notebook.cells.insert(index + 1, injected)
    NotebookClient(
        notebook, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(REPO)}}
    ).execute()

    outputs = [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.outputs]
    text = "".join(o.get("text", "") for o in outputs if o.output_type == "stream")
    images = [o for o in outputs if "image/png" in o.get("data", {})]
    assert str(run_dir) in text and "no-such-run" not in text
    assert "predicted" in text and "F1" in text
    assert "'device': 'cpu'" in text and "'pytorch-lightning': " in text  # what produced it
    # The curves' columns, read from the run's curves.csv.
    assert "['lr', 'train/acc', 'train/loss', 'val/acc', 'val/acc_best', 'val/loss']" in text
    # Two curve plots, the confusion matrix and one mel image per shown clip (at least one).
    assert len(images) >= 4
    assert not [o for o in outputs if o.output_type == "error"]
