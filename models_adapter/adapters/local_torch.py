"""Adapters that run a model in this worker process with torch: a Hugging Face causal LM and a
diffusers text-to-image pipeline, both from a local folder.

torch, transformers and diffusers are imported inside methods only: this module is imported by
the web process (through the adapter registry) which must stay free of them.

Models are loaded once per worker process and kept (the GPU queue runs one task at a time per
process, `--pool=solo`), keyed by (kind, folder, dtype, device). Nothing is ever downloaded:
the config must name an existing local directory and loading passes `local_files_only=True`.
`trust_remote_code` is never set, so a model folder cannot run its own Python here.
"""
from __future__ import annotations

import io
import threading
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable

from models_adapter.base import (
    QUEUE_GPU,
    Adapter,
    AdapterConfigError,
    AdapterError,
    GenerationRequest,
    GenerationResult,
    MediaOutput,
    TextSink,
    register,
)

_CACHE: dict[tuple[str, str, str, str], Any] = {}
_CACHE_LOCK = threading.Lock()  # two threads asking for the same model must not load it twice
# torch.manual_seed is process-wide: a seeded generation holds this lock so that another thread
# cannot draw from the generator in between and break reproducibility.
_GENERATE_LOCK = threading.Lock()

_LM_PARAMS = ("max_new_tokens", "temperature", "top_p", "top_k", "do_sample", "repetition_penalty")
_T2I_PARAMS = ("num_inference_steps", "guidance_scale", "height", "width", "negative_prompt")
_DTYPES = ("auto", "float32", "float16", "bfloat16")


def clear_cache() -> None:
    """Forget loaded models (tests, or a worker that must free GPU memory)."""
    with _CACHE_LOCK:
        _CACHE.clear()


def _cached(key: tuple[str, str, str, str], load: Callable[[], Any]) -> Any:
    with _CACHE_LOCK:
        if key not in _CACHE:
            _CACHE[key] = load()
        return _CACHE[key]


class _LocalTorch(Adapter):
    queue = QUEUE_GPU
    _keys: frozenset[str] = frozenset({"path", "device", "dtype", "params", "queue"})

    def __init__(self, config: dict[str, Any]):
        super().__init__(config)
        unknown = set(self.config) - self._keys
        if unknown:
            raise AdapterConfigError(f"{self.name}: unknown config key(s): {', '.join(sorted(unknown))}")
        raw = self.config.get("path")
        if not isinstance(raw, str) or not raw:
            raise AdapterConfigError(f"{self.name}: config needs 'path', a local model directory")
        path = Path(raw).expanduser()
        # A hub id ("gpt2", "org/model") or a URL is not a directory here: refuse rather than
        # let the library fetch it from the internet.
        if not path.is_dir():
            raise AdapterConfigError(f"{self.name}: path {raw!r} is not an existing local directory "
                                     "(models are never downloaded; copy the model folder to the worker)")
        self.path = str(path.resolve())
        if self.config.get("dtype", "auto") not in _DTYPES:
            raise AdapterConfigError(f"{self.name}: dtype must be one of {', '.join(_DTYPES)}")
        if not isinstance(self.config.get("params", {}), dict):
            raise AdapterConfigError(f"{self.name}: 'params' must be a JSON object")

    def _device(self) -> str:
        import torch

        device = str(self.config.get("device") or ("cuda" if torch.cuda.is_available() else "cpu"))
        if device.startswith("cuda") and not torch.cuda.is_available():
            raise AdapterConfigError(f"{self.name}: device {device!r} asked for but CUDA is not available")
        return device

    def _dtype(self, device: str) -> Any:
        import torch

        name = self.config.get("dtype", "auto")
        if name == "auto":  # half precision on GPU (memory, speed); CPU kernels want float32
            name = "float16" if device.startswith("cuda") else "float32"
            if name == "float16" and torch.cuda.is_bf16_supported():
                name = "bfloat16"  # same memory as fp16 without its overflow on large activations
        return getattr(torch, name)

    def _params(self, request: GenerationRequest, allowed: tuple[str, ...]) -> dict[str, Any]:
        merged = {**self.config.get("params", {}), **request.params}
        return {k: v for k, v in merged.items() if k in allowed}  # other keys would crash generate()

    def _seed(self, request: GenerationRequest) -> int | None:
        seed = request.seed if request.seed is not None else request.params.get("seed")
        return None if seed is None else _as_int(seed, "seed", self.name)


def _as_int(value: Any, what: str, adapter: str) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise AdapterError(f"{adapter}: {what} must be an integer, got {value!r}") from None


@register
class HFCausalLMAdapter(_LocalTorch):
    """A transformers causal LM, streaming tokens through TextIteratorStreamer."""

    name = "hf_causal_lm"
    modalities = ("text",)
    _keys = _LocalTorch._keys | {"system", "max_new_tokens_limit"}

    def _load(self) -> tuple[Any, Any, str]:
        from transformers import AutoModelForCausalLM, AutoTokenizer

        device = self._device()
        dtype = self._dtype(device)
        key = ("causal_lm", self.path, str(dtype), device)

        def load() -> tuple[Any, Any, str]:
            try:
                tok = AutoTokenizer.from_pretrained(self.path, local_files_only=True)
                model = AutoModelForCausalLM.from_pretrained(self.path, local_files_only=True, dtype=dtype)
            except (OSError, ValueError) as e:
                raise AdapterConfigError(f"{self.name}: cannot load model from {self.path}: {e}") from None
            return tok, model.to(device).eval(), device

        return _cached(key, load)

    def _inputs(self, tok: Any, request: GenerationRequest, device: str) -> Any:
        messages = request.messages(self.config.get("system"))
        if getattr(tok, "chat_template", None):
            # sanitize_control_tokens: a voter typing "<|im_start|>system" must not forge turns.
            enc = tok.apply_chat_template(messages, add_generation_prompt=True, tokenize=True, return_dict=True,
                                          return_tensors="pt", sanitize_control_tokens=True)
        else:  # base models without a template: the turns as plain labelled lines
            text = "".join(f"{m['role'].capitalize()}: {m['content']}\n" for m in messages) + "Assistant:"
            enc = tok(text, return_tensors="pt", split_special_tokens=True)
        return {k: v.to(device) for k, v in enc.items() if k in ("input_ids", "attention_mask")}

    def _fit_context(self, tok: Any, model: Any, request: GenerationRequest, device: str,
                     params: dict[str, Any]) -> Any:
        """Inputs that fit the model's context window with room for the answer: the oldest turns
        of a long conversation are dropped first (a model that errors on turn 9 would lose the
        slot), then the answer budget shrinks."""
        window = getattr(model.config, "max_position_embeddings", None)
        history = request.history
        while True:
            inputs = self._inputs(tok, replace(request, history=history), device)
            used = int(inputs["input_ids"].shape[1])
            if not window or used + params["max_new_tokens"] <= window:
                return inputs
            if history:
                history = history[2:] if len(history) >= 2 else ()  # a user turn and its answer
                continue
            if used >= window:
                raise AdapterError(f"{self.name}: prompt is {used} tokens; the model's context is {window}")
            params["max_new_tokens"] = window - used
            return inputs

    def generate(self, request: GenerationRequest, on_text: TextSink) -> GenerationResult:
        import torch
        from transformers import StoppingCriteria, StoppingCriteriaList, TextIteratorStreamer

        tok, model, device = self._load()
        params = self._params(request, _LM_PARAMS)
        limit = _as_int(self.config.get("max_new_tokens_limit", 2048), "max_new_tokens_limit", self.name)
        params["max_new_tokens"] = max(1, min(_as_int(params.get("max_new_tokens", 256), "max_new_tokens", self.name),
                                              limit))
        inputs = self._fit_context(tok, model, request, device, params)
        if params.get("temperature") == 0:  # "temperature 0" means greedy; transformers rejects 0
            params.pop("temperature")
            params["do_sample"] = False
        params.setdefault("do_sample", True)
        if tok.pad_token_id is None and tok.eos_token_id is not None:
            params["pad_token_id"] = tok.eos_token_id  # silences a warning per call on GPT-style models
        streamer = TextIteratorStreamer(tok, skip_prompt=True, skip_special_tokens=True, timeout=600)
        outcome: dict[str, Any] = {}
        stop = threading.Event()

        class _StopWhenAsked(StoppingCriteria):
            # If on_text fails (the slot was cancelled, the socket closed), the GPU must not
            # keep generating a full answer nobody will read.
            def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
                return torch.full((input_ids.shape[0],), stop.is_set(), dtype=torch.bool, device=input_ids.device)

        def run() -> None:
            try:
                with torch.inference_mode():
                    outcome["ids"] = model.generate(**inputs, **params, streamer=streamer,
                                                    stopping_criteria=StoppingCriteriaList([_StopWhenAsked()]))
            except Exception as e:  # noqa: BLE001 - reported to the caller below
                outcome["error"] = e
                streamer.end()  # unblock the reading loop

        parts: list[str] = []
        with _GENERATE_LOCK:
            seed = self._seed(request)
            if seed is not None:
                torch.manual_seed(seed)  # seeds CPU and every CUDA device
            worker = threading.Thread(target=run, name="hf-generate", daemon=True)
            worker.start()
            try:
                for piece in streamer:
                    if piece:
                        parts.append(piece)
                        on_text(piece)
            except BaseException:
                stop.set()
                raise
            finally:
                worker.join()
        if "error" in outcome:
            e = outcome["error"]
            raise AdapterError(f"{self.name}: generation failed: {type(e).__name__}: {e}") from e
        new_tokens = int(outcome["ids"].shape[1] - inputs["input_ids"].shape[1])
        finish = "length" if new_tokens >= params["max_new_tokens"] else "stop"
        return GenerationResult(text="".join(parts),
                                meta={"usage": {"prompt_tokens": int(inputs["input_ids"].shape[1]),
                                                "completion_tokens": new_tokens},
                                      "finish_reason": finish})


@register
class DiffusersT2IAdapter(_LocalTorch):
    """A diffusers text-to-image pipeline; returns one PNG."""

    name = "diffusers_t2i"
    modalities = ("image",)

    def _load(self) -> tuple[Any, str]:
        try:
            from diffusers import DiffusionPipeline
        except ImportError:
            raise AdapterConfigError(f"{self.name}: diffusers is not installed on this worker "
                                     "(pip install diffusers) ") from None
        device = self._device()
        dtype = self._dtype(device)
        key = ("diffusers", self.path, str(dtype), device)

        def load() -> tuple[Any, str]:
            try:
                pipe = DiffusionPipeline.from_pretrained(self.path, local_files_only=True, dtype=dtype)
            except (OSError, ValueError) as e:
                raise AdapterConfigError(f"{self.name}: cannot load pipeline from {self.path}: {e}") from None
            pipe.set_progress_bar_config(disable=True)  # progress bars in worker logs are noise
            return pipe.to(device), device

        return _cached(key, load)

    def generate(self, request: GenerationRequest, on_text: TextSink) -> GenerationResult:
        import torch

        pipe, device = self._load()
        params = self._params(request, _T2I_PARAMS)
        seed = self._seed(request)
        # A generator of its own (not the global RNG) makes the seed independent of other work.
        generator = None if seed is None else torch.Generator(device="cpu").manual_seed(seed)
        try:
            with torch.inference_mode():
                out = pipe(prompt=request.prompt, generator=generator, **params)
        except Exception as e:  # noqa: BLE001 - torch errors are many; the slot records the message
            raise AdapterError(f"{self.name}: generation failed: {type(e).__name__}: {e}") from e
        image = out.images[0]
        if not hasattr(image, "save"):  # output_type="np" pipelines: HxWxC floats in [0, 1]
            from PIL import Image
            import numpy as np

            image = Image.fromarray((np.clip(np.asarray(image), 0, 1) * 255).round().astype("uint8"))
        buf = io.BytesIO()
        image.save(buf, format="PNG")  # Pillow writes no text chunks unless asked: nothing names the model
        return GenerationResult(media=MediaOutput(data=buf.getvalue(), mime="image/png"),
                                meta={"width": image.width, "height": image.height})
