"""Archive outputs of a whole run (issue 11 items 1 and 2): absolute CMOD file names when the job asks,
the resource file beside each AFP print file, and every CMOD group resolving to one document."""
from runjobs import ROOT, run_cli


def test_cmod_group_filenames_absolute_when_the_job_asks(tmp_path):
    job = (ROOT / "samples" / "us-statement.toml").read_text(encoding="utf-8")
    job = job.replace('"data/', f'"{ROOT}/samples/data/').replace('"../layouts/', f'"{ROOT}/layouts/')
    job = job.replace('verify_field = "account"', 'verify_field = "account"\ncmod_absolute_filename = true')
    path = tmp_path / "us.toml"
    path.write_text(job, encoding="utf-8")
    out = tmp_path / "out"
    proc = run_cli("run", path, "-o", out)
    assert proc.returncode in (0, 4), proc.stderr
    for index in sorted(out.glob("*.cmod.ind")):
        text = index.read_text(encoding="latin-1").splitlines()
        names = [line.split(":", 1)[1] for line in text if line.startswith("GROUP_FILENAME:")]
        assert names and all(n.startswith(str(out.resolve()) + "/") for n in names), names[:2]
        assert all((out / n).is_file() for n in names)
        resources = [line for line in text if line.startswith("COMMENT:ccm-batch AFP resources=")]
        if index.name.endswith(".afp.cmod.ind"):
            assert resources == [f"COMMENT:ccm-batch AFP resources={out.resolve()}/{index.name[:-9]}.res"]
        proc = run_cli("index", "verify", index)
        assert proc.returncode == 0, proc.stdout + proc.stderr
