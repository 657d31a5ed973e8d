"""``bixse eval`` (score and compare models or run files) and ``bixse search`` (one query)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from bixse.cli import app
from bixse.errors import InputError

console = Console()

CollectionOption = Annotated[str, typer.Option(
    "--collection", "-c", help="Embedded name ([bold]cranfield[/bold]) or a BEIR/TREC folder path.")]
FaissOption = Annotated[Optional[str], typer.Option(
    "--faiss", help="Search with a FAISS index: [bold]flat[/bold] (exact) or [bold]hnsw[/bold] (approximate). "
                    "Default: exact chunked matrix product.")]
PrecisionOption = Annotated[str, typer.Option(
    "--precision", help="Encoding precision: auto (fp16 on GPU; on a CPU bf16 where native, else fp32), fp32, bf16 (autocast: 1.2-2x "
                        "faster on CPUs with AVX512-BF16/AMX, nDCG@10 within ~0.002 of fp32), fp16 (GPU).")]
BatchOption = Annotated[int, typer.Option("--batch-size", help="Texts per encoder forward pass.")]
CacheDirOption = Annotated[Optional[Path], typer.Option(
    "--cache-dir", help="Corpus-embedding cache folder (default: $BIXSE_CACHE or ~/.cache/bixse).")]


DeviceOption = Annotated[Optional[str], typer.Option(
    "--device", help="Where the dense models encode: cpu, cuda, cuda:N or mps. Default: cuda where there is one.")]


def _retriever_options(faiss: str | None, precision: str, batch_size: int, cache_dir: Path | None,
                       no_cache: bool, device: str | None = None) -> dict:
    from bixse.models import check_device
    from bixse.retrieval.faiss_index import INDEX_KINDS

    if faiss is not None and faiss not in INDEX_KINDS:
        raise InputError(f"unknown FAISS index '{faiss}' (expected one of {', '.join(INDEX_KINDS)})", field="faiss")
    return {"search": faiss or "exact", "precision": precision, "batch_size": batch_size,
            "cache_dir": cache_dir, "cache": False if no_cache else None, "device": check_device(device)}


@app.command("eval")
def eval_command(
    model: Annotated[Optional[list[str]], typer.Option(
        "--model", "-m", help="A model to evaluate (repeat for several): [bold]bm25[/bold], "
                              "[bold]default[/bold] / all-MiniLM-L6-v2 (packaged), a model folder, or a hub id.")] = None,
    run: Annotated[Optional[list[Path]], typer.Option(
        "--run", help="Score an existing TREC run file instead (repeat for several).")] = None,
    qrels: Annotated[Optional[Path], typer.Option(
        "--qrels", help="Qrels for --run: TREC (qid iter docid grade) or BEIR TSV. "
                        "Default: the qrels of --collection/--split.")] = None,
    collection: CollectionOption = "cranfield",
    split: Annotated[str, typer.Option("--split", "-s", help="Query split to evaluate on (never tune on test).")] = "test",
    baseline: Annotated[Optional[str], typer.Option(
        "--baseline", help="Model (as shown in the table) the others are tested against. Default: the first.")] = None,
    output: Annotated[Optional[Path], typer.Option(
        "--output", "-o", help="Folder for runs/<model>.trec, report.md, results.json and chart.png.")] = None,
    measure: Annotated[Optional[list[str]], typer.Option(
        "--measure", help="Measure (repeatable): nDCG@k, MRR@k, R@k, P@k, MAP or any ir_measures name. "
                          "Default: nDCG@10, MRR@10, R@100, MAP.")] = None,
    relevance_threshold: Annotated[int, typer.Option(
        "--relevance-threshold", help="Lowest grade counted relevant by MRR, recall, MAP and P.")] = 1,
    ndcg_gain: Annotated[str, typer.Option(
        "--ndcg-gain", help="nDCG gain: linear (trec_eval, default) or exponential (2^grade - 1).")] = "linear",
    top_k: Annotated[Optional[int], typer.Option(
        "--top-k", help="Documents retrieved per query. Default: the largest measure cutoff, at least 100.")] = None,
    faiss: FaissOption = None,
    precision: PrecisionOption = "auto",
    batch_size: BatchOption = 32,
    cache_dir: CacheDirOption = None,
    no_cache: Annotated[bool, typer.Option("--no-cache", help="Neither read nor write cached embeddings.")] = False,
    device: DeviceOption = None,
    resamples: Annotated[int, typer.Option("--resamples", help="Bootstrap and randomisation-test resamples.")] = 10_000,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the resampling.")] = 0,
) -> None:
    """Evaluate models (or run files) on graded qrels and compare them side by side.

    Prints each measure with a 95% bootstrap CI, and paired t- and randomisation tests of every model against the baseline (Holm-corrected across models). Dense models' corpus embeddings are cached on disk, so a second run re-encodes nothing.

    Examples:

        bixse eval -m bm25 -m default --collection cranfield --split test -o results/

        bixse eval -m bm25 -m ./my-finetuned-model --faiss hnsw --precision bf16

        bixse eval --run a.trec --run b.trec --qrels qrels.txt
    """
    from bixse.evaluation import DEFAULT_MEASURES, evaluate_models, evaluate_run_files, rich_tables

    measures = tuple(measure) if measure else DEFAULT_MEASURES
    scoring = {"measures": measures, "relevance_threshold": relevance_threshold, "ndcg_gain": ndcg_gain,
               "n_resamples": resamples, "seed": seed, "baseline": baseline, "output_dir": output}
    if run:
        if model:
            raise InputError("give either --model or --run, not both", field="run")
        if qrels is None:
            from bixse.collections import load
            from bixse.evaluation.pipeline import split_of

            qrels_source = split_of(load(collection), split).qrels
            title = f"runs on {collection} / {split}"
        else:
            qrels_source = qrels
            title = f"runs on {qrels}"
        comparison = evaluate_run_files(run, qrels_source, **scoring)
    elif model:
        comparison = evaluate_models(model, collection, split, top_k=top_k, **scoring,
                                     **_retriever_options(faiss, precision, batch_size, cache_dir, no_cache, device))
        title = f"{collection} / {split}"
    else:
        raise InputError("nothing to evaluate: give --model (e.g. -m bm25 -m default) or --run", field="model")
    for table in rich_tables(comparison, title):
        console.print(table)
    console.print(f"[dim]{escape(comparison.conventions())}[/dim]")
    if output is not None:
        console.print(f"wrote {output}/report.md, results.json, chart.png" + ("" if run else " and runs/"),
                      markup=False, highlight=False)


@app.command("search")
def search_command(
    query: Annotated[str, typer.Argument(help="The query text, quoted.")],
    model: Annotated[str, typer.Option("--model", "-m", help="bm25, default (packaged MiniLM), a folder or a hub id.")] = "default",
    collection: CollectionOption = "cranfield",
    top_k: Annotated[int, typer.Option("--top-k", "-k", help="Number of hits to print.")] = 10,
    faiss: FaissOption = None,
    precision: PrecisionOption = "auto",
    batch_size: BatchOption = 32,
    cache_dir: CacheDirOption = None,
    no_cache: Annotated[bool, typer.Option("--no-cache", help="Neither read nor write cached embeddings.")] = False,
    device: DeviceOption = None,
) -> None:
    """Search a collection with one query and print the top hits with scores and titles.

    Examples:

        bixse search "boundary layer transition at hypersonic speeds"

        bixse search -m bm25 -k 5 --collection ./scifact "vitamin D and covid"
    """
    from bixse.collections import load
    from bixse.retrieval import get_retriever

    loaded = load(collection)
    options = {} if model.lower() == "bm25" else _retriever_options(
        faiss, precision, batch_size, cache_dir, no_cache, device)
    hits = get_retriever(model, loaded.corpus, **options).search_text(query, top_k)
    table = Table(title=escape(f"{model} on {loaded.name}: {query}"))
    for column, justify in (("rank", "right"), ("score", "right"), ("doc id", "left"), ("title / text", "left")):
        table.add_column(column, justify=justify)
    for rank, (doc_id, score) in enumerate(hits, start=1):
        document = loaded.corpus[doc_id]
        shown = document.title or document.text
        shown = shown if len(shown) <= 100 else shown[:97] + "..."
        table.add_row(str(rank), f"{score:.4f}", escape(doc_id), escape(shown))
    console.print(table)
    if not hits:
        console.print("no document matches this query")
