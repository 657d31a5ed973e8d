"""``bixse mine`` and ``bixse judge``: candidate pairs from a retriever, graded labels from a judge."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from bixse.cli import app, error_console
from bixse.collections import load
from bixse.errors import InputError
from bixse.io import atomic_write
from bixse.judging.agreement import AgreementReport, agreement_report, format_histogram
from bixse.judging.assets import bixse_cache_dir
from bixse.judging.base import JudgeError
from bixse.judging.prompts import PromptTemplate
from bixse.judging.registry import JUDGES, get_judge
from bixse.judging.runner import judge_file
from bixse.mining.mine import mine_to_file

console = Console()


@app.command("mine")
def mine(
    output: Annotated[Path, typer.Option("--output", "-o", help="Candidates file to write (JSONL), e.g. candidates.jsonl.")],
    collection: Annotated[str, typer.Option("--collection", "-c", help="Embedded name (cranfield) or a BEIR/TREC folder.")] = "cranfield",
    split: Annotated[str, typer.Option(help="Query split to mine for: train, dev, test or all.")] = "train",
    retriever: Annotated[str, typer.Option(help="bm25, or a sentence-transformers model name or folder "
                                           "(e.g. all-MiniLM-L6-v2) for dense retrieval.")] = "bm25",
    top_k: Annotated[int, typer.Option("--top-k", "-k", help="Candidates per query.")] = 20,
    with_texts: Annotated[bool, typer.Option("--with-texts", help="Also write query and document texts, so "
                                             "`bixse judge` needs no --collection.")] = False,
) -> None:
    """Retrieve the top-k documents of every query of a split: the pairs to judge.

    Example:

        bixse mine --collection cranfield --split train --retriever bm25 --top-k 20 --output candidates.jsonl
    """
    candidates = mine_to_file(load(collection), output, split, retriever, top_k, with_texts)
    queries = len({c.query_id for c in candidates})
    console.print(f"wrote {len(candidates):,} candidates for {queries:,} queries ({retriever}, top {top_k}): {output}")


def _judge_options(judge: str, model: Optional[str], mode: Optional[str], max_grade: Optional[int],
                   prompt: Optional[Path], max_document_tokens: Optional[int], device: Optional[str],
                   precision: Optional[str], base_url: Optional[str], endpoint: Optional[str],
                   api_key_env: Optional[str], timeout: Optional[float], max_retries: Optional[int],
                   concurrency: Optional[int]) -> dict[str, object]:
    return {"model": model, "mode": mode, "max_grade": max_grade,
            "prompt": PromptTemplate.from_file(prompt) if prompt else None,
            "max_document_tokens": max_document_tokens, "device": device, "precision": precision,
            "base_url": base_url, "endpoint": endpoint, "api_key_env": api_key_env, "timeout_s": timeout,
            "max_retries": max_retries, "max_concurrency": concurrency}


def _print_report(report: AgreementReport) -> None:
    console.print(f"agreement with human grades: {report.judge}, relevant = gain >= {report.relevance_threshold}, "
                  f"{report.labelled:,} labelled, {report.unlabelled:,} unlabelled", highlight=False)
    table = Table()
    table.add_column("view", no_wrap=True)
    for column in ("pairs", "relevant", "non-rel", "AUC", "AUC/query", "Kendall tau-b"):
        table.add_column(column, justify="right")
    fmt = lambda v: "-" if v is None else f"{v:.3f}"  # noqa: E731
    for view in report.views.values():
        table.add_row(view.name, str(view.pairs), str(view.relevant), str(view.non_relevant), fmt(view.auc),
                      fmt(view.auc_per_query_mean), fmt(view.kendall_tau_b))
    console.print(table)
    console.print("score histogram (all candidates):")
    for line in format_histogram(report.views["all_candidates"], width=16):
        console.print("  " + line, highlight=False)


@app.command("judge")
def judge_command(
    candidates: Annotated[Path, typer.Option("--candidates", "-i", help="Candidates file from `bixse mine`.")],
    collection: Annotated[Optional[str], typer.Option("--collection", "-c", help="Collection the candidates' ids "
                          "refer to (cranfield or a folder); needed unless the file has texts, and for --agreement.")] = None,
    judge: Annotated[str, typer.Option("--judge", "-j", help=f"Judge kind: {', '.join(JUDGES)}. llm without --model is "
                     "the offline SmolLM2 (weak: for trying the path); bi-encoder without --model is all-mpnet-base-v2.")] = "llm",
    model: Annotated[Optional[str], typer.Option(help="Judge model: folder, hub id, .gguf file (llm), model name "
                     "served by the endpoint (http), e.g. all-MiniLM-L6-v2 for bi-encoder.")] = None,
    mode: Annotated[Optional[str], typer.Option(help="LLM judges: grade (expected grade / max grade) or yesno (P(yes)).")] = None,
    max_grade: Annotated[Optional[int], typer.Option(help="LLM judges: top of the grade scale (default 3, i.e. 0-3).")] = None,
    prompt: Annotated[Optional[Path], typer.Option(help="LLM judges: prompt template JSON {name, version, mode, "
                      "system, user}; its version is part of the cache key.")] = None,
    max_document_tokens: Annotated[Optional[int], typer.Option(help="llm/vllm: document token budget (default 256/512).")] = None,
    batch_size: Annotated[Optional[int], typer.Option(help="Pairs per judge call (and per committed batch).")] = None,
    cache: Annotated[Optional[Path], typer.Option(help="SQLite label cache; cached pairs are never judged again "
                     "[default: $BIXSE_CACHE/labels.sqlite, else ~/.cache/bixse/labels.sqlite].")] = None,
    output: Annotated[Optional[Path], typer.Option("--output", "-o", help="Write labelled pairs as graded training "
                      "pairs (JSONL, source llm:<name> or teacher:<name>).")] = None,
    agreement: Annotated[Optional[Path], typer.Option(help="Write the agreement report with the collection's human "
                         "grades (JSON) and print it.")] = None,
    max_queries: Annotated[Optional[int], typer.Option(help="Judge only the first N queries' candidates (a sample).")] = None,
    device: Annotated[Optional[str], typer.Option(help="Local judges: torch device (cpu, cuda).")] = None,
    precision: Annotated[Optional[str], typer.Option(help="Local judges: fp32 or bf16 (autocast).")] = None,
    base_url: Annotated[Optional[str], typer.Option(help="http: OpenAI-compatible base URL, e.g. http://127.0.0.1:8000/v1.")] = None,
    endpoint: Annotated[Optional[str], typer.Option(help="http: chat (chat/completions) or completions.")] = None,
    api_key_env: Annotated[Optional[str], typer.Option(help="http: NAME of the environment variable holding the "
                           "API key (default BIXSE_JUDGE_API_KEY); the key itself is never passed or logged.")] = None,
    timeout: Annotated[Optional[float], typer.Option(help="http: seconds per request (default 60).")] = None,
    max_retries: Annotated[Optional[int], typer.Option(help="http: retries after a timeout or 429/5xx (default 4).")] = None,
    concurrency: Annotated[Optional[int], typer.Option(help="http: requests in flight at once (default 8).")] = None,
) -> None:
    """Label candidate pairs with a judge, through a durable cache; export and check them.

    A killed run resumes where it stopped; a rerun with everything cached makes no model call.

    Examples:

        bixse judge --candidates candidates.jsonl --collection cranfield --judge bi-encoder --model all-MiniLM-L6-v2 -o graded.jsonl

        bixse judge -i candidates.jsonl -c cranfield --judge llm --max-queries 5 --agreement agreement.json

        BIXSE_JUDGE_API_KEY=... bixse judge -i candidates.jsonl -c cranfield --judge http --model Qwen/Qwen2.5-7B-Instruct --base-url http://127.0.0.1:8000/v1
    """
    cache = cache or bixse_cache_dir() / "labels.sqlite"
    loaded = load(collection) if collection else None
    if agreement is not None and (loaded is None or not loaded.qrels):
        raise InputError("--agreement needs --collection with human judgements", field="agreement")
    the_judge = get_judge(judge, **_judge_options(judge, model, mode, max_grade, prompt, max_document_tokens, device,
                                                  precision, base_url, endpoint, api_key_env, timeout, max_retries,
                                                  concurrency))
    columns = (TextColumn("judging"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), TimeRemainingColumn())
    with Progress(*columns, console=Console(stderr=True), transient=True) as progress:
        task = progress.add_task("judging", total=None)
        try:
            result = judge_file(candidates, the_judge, cache, collection=loaded, output=output, batch_size=batch_size,
                                max_queries=max_queries, progress=lambda n: progress.advance(task, n),
                                on_start=lambda n: progress.update(task, total=n))
        except JudgeError as error:
            progress.stop()
            error_console.print(f"[bold red]judge failed:[/bold red] {error}", highlight=False, soft_wrap=True)
            raise typer.Exit(1) from None
        except KeyboardInterrupt:
            progress.stop()
            error_console.print(f"interrupted: the labels of every finished batch are in {cache}; "
                                "rerun the same command to resume", highlight=False, soft_wrap=True)
            raise typer.Exit(130) from None
    stats = result.labels.stats
    console.print(f"{stats.pairs:,} pairs ({the_judge.source}): {stats.cached:,} cached, {stats.judged:,} judged now, "
                  f"{sum(stats.skipped.values()):,} skipped; labels in {cache}")
    for reason, count in stats.skipped.items():
        console.print(f"  [yellow]skipped {count:,}[/yellow]: {reason} (a rerun asks again)", highlight=False)
    if result.output is not None:
        console.print(f"wrote {result.exported:,} graded pairs: {result.output}")
    if agreement is not None:
        assert loaded is not None
        report = agreement_report(result.candidates, result.labels.scores, loaded.qrels, judge=the_judge.source)
        with atomic_write(agreement) as handle:
            json.dump(report.to_dict(), handle, indent=2)
        _print_report(report)
        console.print(f"agreement report: {agreement}")
