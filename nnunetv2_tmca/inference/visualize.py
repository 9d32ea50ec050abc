"""``nnUNetv2_tmca_visualize``: one PNG per case with what the report did.

Panels: the image; prediction (red) with the reference outline (green) when given; and, for
every decoder stage with a target map, M_s = sigmoid(z_s), the report-to-pixel map of the
aligned space, upsampled to the image; and, for reports of several sentences, each sentence's relevance
r_k (sentence_pooling.py) as bars. ``CASE_sentences.json`` lists per sentence its index, relevance and,
with ``--sentence_effects``, how much deleting it changes the mask (1 - Dice; one prediction per sentence).
3D cases show one slice: the one with the most predicted foreground, or ``--slice``. The report text
(and each sentence's text) is written only with ``--show_report`` (patient data).
"""
from __future__ import annotations

import argparse
import os

import numpy as np
import torch
from torch.nn import functional as F

from nnunetv2_tmca.cli_errors import one_line_errors


def _pad_to_multiple(x: torch.Tensor, multiple) -> torch.Tensor:
    pads = []
    for size, m in zip(reversed(x.shape[2:]), reversed(multiple)):
        pads += [0, (-size) % m]
    return F.pad(x, pads)


@torch.no_grad()
def target_maps(predictor, data: np.ndarray, properties: dict, report: str | None) -> dict:
    """{stage: M_s in the geometry of the original image} for one case preprocessed by nnU-Net.

    The map's logit z is put back through nnU-Net's own export path (as a two-class logit [0, z],
    whose softmax is [1 - sigmoid(z), sigmoid(z)]), so cropping, resampling and axis order are
    undone exactly as for the segmentation.
    """
    from nnunetv2.inference.export_prediction import convert_predicted_logits_to_segmentation_with_correct_shape

    net = predictor.tmca_network.eval()
    cm = predictor.configuration_manager
    x = torch.from_numpy(np.asarray(data, dtype=np.float32))
    two_d = len(cm.patch_size) == 2
    x = x.permute(1, 0, 2, 3) if two_d else x[None]  # 2D: the slices are the batch
    stride = [int(s) for s in np.prod(np.vstack(cm.pool_op_kernel_sizes), axis=0)]
    x_pad = _pad_to_multiple(x.to(predictor.device), stride)
    text = predictor.text_for_report(report)
    deep = net.decoder.deep_supervision
    net.decoder.deep_supervision = False
    try:
        with net.bind_text(text):
            _, aux = net(x_pad, return_alignment=True)
    finally:
        net.decoder.deep_supervision = deep
    heads = predictor.label_manager.num_segmentation_heads
    maps = {}
    for s, z in aux["target_logits"].items():
        z = F.interpolate(z.float(), size=x_pad.shape[2:], mode="bilinear" if two_d else "trilinear")
        z = z[(slice(None), 0) + tuple(slice(0, n) for n in x.shape[2:])].cpu()  # (Z, H, W) or (1, Z, H, W)
        z = z if two_d else z[0]
        logits = torch.full((heads, *z.shape), -1e4)
        logits[0], logits[1] = 0, z
        _, probs = convert_predicted_logits_to_segmentation_with_correct_shape(
            logits, predictor.plans_manager, cm, predictor.label_manager, dict(properties), return_probabilities=True)
        maps[s] = probs[1]
    return maps


def render_case(path: str, image: np.ndarray, prediction: np.ndarray, maps: dict, reference=None,
                title: str = "", report: str | None = None, relevance: list | None = None):
    """image/prediction/reference: 2D arrays; maps: {stage: 2D array}; relevance: r_k per sentence. Writes a PNG."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    bars = relevance is not None and len(relevance) > 1
    n = 2 + len(maps) + bars
    fig, axes = plt.subplots(1, n, figsize=(3.2 * n, 3.6 + (0.6 if report else 0)))
    axes[0].imshow(image, cmap="gray")
    axes[0].set_title("image")
    axes[1].imshow(image, cmap="gray")
    red = matplotlib.colors.ListedColormap(["red"])  # every foreground label drawn red (autumn's top is yellow)
    axes[1].imshow(np.ma.masked_where(prediction == 0, prediction), cmap=red, alpha=0.55)
    if reference is not None:
        axes[1].contour(reference > 0, levels=[0.5], colors="lime", linewidths=1.2)
    axes[1].set_title("prediction (red)" + (", reference (green)" if reference is not None else ""), fontsize=8)
    for ax, (stage, m) in zip(axes[2:], sorted(maps.items())):
        ax.imshow(image, cmap="gray")
        ax.imshow(m, cmap="jet", alpha=0.5, vmin=0, vmax=1)
        ax.set_title(f"target map, decoder stage {stage}", fontsize=8)
    for ax in axes[:n - bars]:
        ax.axis("off")
    if bars:
        ax = axes[-1]
        ax.bar(np.arange(len(relevance)), relevance, color="tab:blue")
        ax.set_xlabel("sentence", fontsize=8)
        ax.set_ylabel("relevance r", fontsize=8)
        ax.set_ylim(0, 1)
        ax.tick_params(labelsize=7)
        ax.set_title("which sentences the model used", fontsize=8)
    fig.suptitle(title, fontsize=9)
    if report:
        fig.text(0.5, 0.01, report, ha="center", fontsize=8, wrap=True)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def visualize_cases(predictor, input_folder: str, output_folder: str, reference_folder: str | None = None,
                    cases=None, slice_index: int | None = None, show_report: bool = False,
                    sentence_effects: bool = False) -> list:
    from nnunetv2.utilities.utils import create_lists_from_splitted_dataset_folder

    ending = predictor.dataset_json["file_ending"]
    lists = create_lists_from_splitted_dataset_folder(input_folder, ending)
    case_ids = [os.path.basename(f[0])[:-(len(ending) + 5)] for f in lists]
    unknown = sorted(set(cases or ()) - set(case_ids))
    if unknown:
        from nnunetv2_tmca.errors import UserInputError
        from nnunetv2_tmca.reports import format_ids
        raise UserInputError(f"--cases names {format_ids(unknown)} without images CASE_0000{ending} in {input_folder}.")
    wanted = [(c, f) for c, f in zip(case_ids, lists) if cases is None or c in cases]
    predictor.check_reports([c for c, _ in wanted])
    reader = predictor.plans_manager.image_reader_writer_class()
    preprocessor = predictor.configuration_manager.preprocessor_class(verbose=False)
    os.makedirs(output_folder, exist_ok=True)
    written = []
    for case, files in wanted:
        report = predictor.reports.get(case) if predictor.use_text else None
        img, props = reader.read_images(files)
        seg = predictor.predict_single_npy_array(img, dict(props), report=report)
        data, _, props_pp = preprocessor.run_case_npy(img, None, dict(props), predictor.plans_manager,
                                                      predictor.configuration_manager, predictor.dataset_json)
        maps = target_maps(predictor, data, props_pp, report)
        ref = reader.read_seg(os.path.join(reference_folder, case + ending))[0][0] if reference_folder else None
        k = slice_index if slice_index is not None else int(np.argmax((seg > 0).reshape(seg.shape[0], -1).sum(1)))
        image2d, seg2d = img[0][k], seg[k]
        ref2d = ref[k] if ref is not None else None
        maps2d = {s: m[k] for s, m in maps.items()}
        out = os.path.join(output_folder, f"{case}.png")
        relevance = predictor.sentence_relevance(report) if report is not None else None
        if relevance is not None:
            write_sentence_table(predictor, os.path.join(output_folder, f"{case}_sentences.json"), report, relevance,
                                 predictor.sentence_effects(img, dict(props), report) if sentence_effects else None,
                                 show_report)
        render_case(out, image2d, seg2d, maps2d, ref2d, title=f"{case} (slice {k})" if seg.ndim == 3 and
                    seg.shape[0] > 1 else case, report=report if show_report else None, relevance=relevance)
        written.append(out)
    return written


def write_sentence_table(predictor, path: str, report: str, relevance: list, effects: list | None,
                         show_report: bool):
    """[{"sentence": k, "relevance": r_k, "effect": 1 - Dice or absent, "text": only with show_report}], atomic."""
    from nnunetv2_tmca.io_utils import atomic_write_json
    texts = predictor.report_sentences(report)
    rows = []
    for k, r in enumerate(relevance):
        row = {"sentence": k, "relevance": round(r, 4)}
        if effects is not None:
            row["effect"] = round(effects[k], 4)
        if show_report:
            row["text"] = texts[k]
        rows.append(row)
    atomic_write_json(rows, path)


@one_line_errors("nnUNetv2_tmca_visualize")
def main(argv=None):
    p = argparse.ArgumentParser(description="Overlays of prediction, reference and per-stage report-to-pixel target "
                                            "maps of a TMCA model, one PNG per case.")
    p.add_argument("-i", required=True, help="input images folder (CASE_XXXX.ext)")
    p.add_argument("-o", required=True, help="output folder for PNGs")
    p.add_argument("-d", required=True)
    p.add_argument("-c", required=True)
    p.add_argument("-tr", default="nnUNetTrainerTMCA")
    p.add_argument("-p", default="nnUNetPlans")
    p.add_argument("-f", nargs="+", default=["0"])
    p.add_argument("-chk", default="checkpoint_final.pth")
    p.add_argument("--reports", default=None, help="default: <input>/../reports.json")
    p.add_argument("--labels", default=None, help="reference masks folder (e.g. labelsTs) to outline")
    p.add_argument("--cases", nargs="+", default=None, help="only these case ids")
    p.add_argument("--slice", type=int, default=None, help="3D: slice index (default: most predicted foreground)")
    p.add_argument("--show_report", action="store_true", help="print the report text on the picture")
    p.add_argument("--sentence_effects", action="store_true",
                   help="also predict each case once per sentence with that sentence deleted (CASE_sentences.json)")
    p.add_argument("--no_text", action="store_true")
    p.add_argument("-device", default="cuda")
    p.add_argument("--trust_checkpoints", action="store_true", help="unpickle checkpoints freely (trusted files only)")
    p.add_argument("--verbose", action="store_true", help="show full tracebacks of errors")
    args = p.parse_args(argv)
    if args.trust_checkpoints:
        from nnunetv2_tmca.checkpoints import trust_checkpoints
        trust_checkpoints()
    from nnunetv2.utilities.file_path_utilities import get_output_folder

    from nnunetv2_tmca.inference.cli import default_reports_path
    from nnunetv2_tmca.inference.predictor import nnUNetPredictorTMCA
    predictor = nnUNetPredictorTMCA(device=torch.device(args.device), allow_tqdm=False,
                                    reports=None if args.no_text else (args.reports or default_reports_path(args.i)),
                                    use_text=not args.no_text)
    predictor.initialize_from_trained_model_folder(get_output_folder(args.d, args.tr, args.p, args.c),
                                                   [f if f == "all" else int(f) for f in args.f], args.chk)
    for path in visualize_cases(predictor, args.i, args.o, args.labels, args.cases, args.slice, args.show_report,
                                args.sentence_effects):
        print(path)


if __name__ == "__main__":
    main()
