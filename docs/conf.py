"""Sphinx configuration of the hi_widgets documentation (``make docs``).

Everything that can be generated from the code is (see ``_ext/``): the API reference from
the packages' ``__all__``, the CLI page from the argument parser, the quota, error and
benchmark tables, and the gallery, whose notebooks myst-nb runs during the build. The
build is offline and never reaches AWS: AWS settings are removed from the environment
here, before any notebook kernel starts.
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE / "_ext"))
sys.path.insert(0, str(HERE.parent))  # this checkout's hi_widgets, not an installed one

# No credentials, profile, region or endpoint of the person building reach the notebooks'
# kernels (they inherit this environment), so every notebook runs on its own sandbox.
for _name in [name for name in os.environ if name.startswith("AWS_")]:
    del os.environ[_name]
os.environ["AWS_CONFIG_FILE"] = os.devnull
os.environ["AWS_SHARED_CREDENTIALS_FILE"] = os.devnull
os.environ["AWS_EC2_METADATA_DISABLED"] = "true"
os.environ.pop("HI_WIDGETS_APP_USE_AWS", None)
os.environ["PYDEVD_DISABLE_FILE_VALIDATION"] = "1"  # debugpy's frozen-modules note
os.environ["PYTHONPATH"] = os.pathsep.join(
    filter(None, [str(HERE.parent), os.environ.get("PYTHONPATH")])
)

from hi_widgets import __version__  # noqa: E402

project = "hi_widgets"
author = "hi_widgets developers"
copyright = "hi_widgets developers"
release = version = __version__

extensions = [
    "myst_nb",
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "numpydoc",
    "sphinx_copybutton",
    "api_reference",
    "references",
    "generated_pages",
    "gallery",
]

templates_path = ["_templates"]
exclude_patterns = ["_build", "_generated", "**/.ipynb_checkpoints", "jupyter_execute"]
source_suffix = {".rst": "restructuredtext", ".md": "myst-nb", ".ipynb": "myst-nb"}

# -- API reference -------------------------------------------------------------------
autosummary_generate = True
autodoc_typehints = "signature"
autodoc_preserve_defaults = True
autodoc_member_order = "bysource"
numpydoc_show_class_members = False
numpydoc_xref_param_type = False
# A public name without a docstring fails the build (GL08: "no docstring").
numpydoc_validation_checks = {"GL08"}
numpydoc_validation_exclude = {r"\.__init__$"}

# -- Cross-references ----------------------------------------------------------------
# -n reports every reference that does not resolve. Inside hi_widgets they must all
# resolve. Other projects' objects (pandas, boto3, the standard library...) are plain
# text: the build is offline, so there are no intersphinx inventories to link them to.
nitpicky = True
_EXTERNAL = (
    "t",
    "pd",
    "pandas",
    "np",
    "numpy",
    "numpy.typing",
    "matplotlib",
    "mpl",
    "plt",
    "boto3",
    "botocore",
    "mypy_boto3_medical_imaging",
    "mypy_boto3_s3",
    "ipywidgets",
    "traitlets",
    "anywidget",
    "pyarrow",
    "pydicom",
    "duckdb",
    "tqdm",
    "_io",
    "_thread",
    "abc",
    "argparse",
    "collections",
    "concurrent",
    "contextlib",
    "datetime",
    "enum",
    "http",
    "io",
    "json",
    "logging",
    "os",
    "pathlib",
    "queue",
    "re",
    "socket",
    "socketserver",
    "threading",
    "tracemalloc",
    "types",
    "typing",
    "typing_extensions",
    "uuid",
)
# Bare names in type hints: builtins, typing, and other projects' types imported by name.
_BARE_NAMES = (
    "None|NoneType|Ellipsis|object|type|bool|int|float|complex|str|bytes|bytearray|list|"
    "tuple|dict|set|frozenset|range|slice|callable|Exception|BaseException|ValueError|"
    "TypeError|KeyError|OSError|RuntimeError|TimeoutError|KeyboardInterrupt|"
    "NotImplementedError|StopIteration|Any|Callable|Iterable|Iterator|Sequence|Mapping|"
    "MutableMapping|Generator|Literal|Optional|Union|TypeVar|Self|NamedTuple|TypedDict|"
    "Path|Event|Lock|DataFrame|Series|Axes|Figure|BaseClient|Timestamp|Timedelta|"
    "datetime|timedelta|date|tzinfo|Config|HealthImagingClient|S3Client|Clock"
)
_EXTERNAL_RE = "|".join(re.escape(module) for module in _EXTERNAL)
nitpick_ignore_regex = [
    (r"py:.*", rf"({_EXTERNAL_RE})(\..*)?"),
    (r"py:.*", rf"({_BARE_NAMES})"),
]

# -- Notebooks (gallery) --------------------------------------------------------------
nb_execution_mode = "force"  # run every notebook during the build, never stored outputs
nb_execution_timeout = 300  # seconds per cell
nb_execution_raise_on_error = True  # a failing notebook fails the build
nb_execution_show_tb = True
nb_execution_in_temp = True  # exports a notebook writes go to a scratch folder
nb_merge_streams = True
# Offline pages: no widget manager from a CDN, so a widget shows its text form.
nb_ipywidgets_js = {}
nb_mime_priority_overrides = [("html", "application/vnd.jupyter.widget-view+json", None)]
myst_enable_extensions = ["colon_fence", "deflist"]
myst_heading_anchors = 3

# -- HTML -------------------------------------------------------------------------------
html_theme = "pydata_sphinx_theme"
html_title = f"hi_widgets {release}"
html_theme_options = {
    "navigation_with_keys": False,
    "show_toc_level": 2,
    "secondary_sidebar_items": ["page-toc"],
}
html_show_sourcelink = False
