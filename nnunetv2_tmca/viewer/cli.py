"""``nnUNetv2_tmca_viewer``: serve the viewer of a trained TMCA model on 127.0.0.1 and print its URL (with token).

    nnUNetv2_tmca_viewer -d 997 -c 2d -tr nnUNetTrainerTMCA -f 0 -i $nnUNet_raw/Dataset997_X/imagesTs \\
        --labels $nnUNet_raw/Dataset997_X/labelsTs          # reports: imagesTs/../reports.json
    nnUNetv2_tmca_viewer -m MODEL_FOLDER -f 0 -i IMAGES --reports reports.json --port 8765

Edited reports are written only by the page's "Save" button, each to a new file in --save_folder.
"""
from __future__ import annotations

import argparse
import logging
import os
import secrets
import socket
import sys

from nnunetv2_tmca.cli_errors import one_line_errors
from nnunetv2_tmca.errors import UserInputError

HOST = "127.0.0.1"  # loopback only: the page shows patient images and reports


def parse_args(argv=None):
    p = argparse.ArgumentParser(description="A local web page to look at a TMCA model's cases, edit a report and "
                                            "watch the mask (documentation/getting_started.md).")
    p.add_argument("-i", required=True, help="images folder (CASE_XXXX.ext, as imagesTs)")
    p.add_argument("-d", help="dataset name or id (with -c and -tr; or give -m)")
    p.add_argument("-c", help="configuration")
    p.add_argument("-tr", default="nnUNetTrainerTMCA")
    p.add_argument("-p", default="nnUNetPlans")
    p.add_argument("-m", help="model folder (contains plans.json, dataset.json, fold_X) instead of -d/-c/-tr/-p")
    p.add_argument("-f", nargs="+", default=["0"], help="folds to ensemble (default 0)")
    p.add_argument("-chk", default="checkpoint_final.pth")
    p.add_argument("--reports", default=None, help="reports.json; default: <input>/../reports.json if it exists")
    p.add_argument("--labels", default=None, help="reference masks (e.g. labelsTs) to outline")
    p.add_argument("--save_folder", default=None, help="where saved edited reports go (default: the folder of the "
                                                      "reports file, or the current folder)")
    p.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (default: a free one, printed)")
    p.add_argument("--no_scoring", action="store_true", help="do not score every case in the background")
    p.add_argument("--disable_tta", action="store_true", help="predict without test-time mirroring (faster)")
    p.add_argument("-device", default=None, help="cuda, cpu or mps (default: cuda if available)")
    p.add_argument("--trust_checkpoints", action="store_true", help="unpickle checkpoints freely (trusted files only)")
    p.add_argument("--verbose", action="store_true", help="errors with traceback")
    args = p.parse_args(argv)
    if not args.m and not (args.d and args.c):
        p.error("give -d and -c (and -tr), or -m MODEL_FOLDER")
    return args


def build_session(args):
    import torch

    from nnunetv2_tmca.inference.cli import default_reports_path
    from nnunetv2_tmca.inference.predictor import nnUNetPredictorTMCA
    from nnunetv2_tmca.reports import load_reports
    from nnunetv2_tmca.viewer.session import ViewerSession

    if args.trust_checkpoints:
        from nnunetv2_tmca.checkpoints import trust_checkpoints
        trust_checkpoints()
    if not os.path.isdir(args.i):
        raise UserInputError(f"images folder {args.i} does not exist")
    if args.labels and not os.path.isdir(args.labels):
        raise UserInputError(f"labels folder {args.labels} does not exist")
    reports_path = args.reports or default_reports_path(args.i)
    if args.reports and not os.path.isfile(args.reports):
        raise UserInputError(f"no reports file at {args.reports}")
    reports = load_reports(reports_path) if os.path.isfile(reports_path) else {}
    if args.m:
        model_folder = args.m
    else:
        from nnunetv2.utilities.file_path_utilities import get_output_folder
        model_folder = get_output_folder(args.d, args.tr, args.p, args.c)
    if not os.path.isdir(model_folder):
        raise UserInputError(f"model folder {model_folder} does not exist (train first, or check -d/-tr/-p/-c or -m)")
    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cpu":
        torch.set_num_threads(max(1, os.cpu_count() or 1))
    predictor = nnUNetPredictorTMCA(tile_step_size=0.5, use_mirroring=not args.disable_tta, device=torch.device(device),
                                    allow_tqdm=False, reports=reports or None, allow_missing_reports=True,
                                    agreement=True)
    predictor.initialize_from_trained_model_folder(model_folder, [f if f == "all" else int(f) for f in args.f],
                                                   args.chk)
    save_folder = args.save_folder or (os.path.dirname(os.path.abspath(reports_path)) if reports else os.getcwd())
    return ViewerSession(predictor, args.i, reports, args.labels), save_folder


def free_socket(port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((HOST, port))
        sock.listen(128)  # connections wait in the backlog until the server runs: the printed URL works at once
    except OSError as e:
        raise UserInputError(f"cannot listen on {HOST}:{port} ({e.strerror}); choose another --port") from None
    return sock


@one_line_errors("nnUNetv2_tmca_viewer")
def main(argv=None):
    try:
        import uvicorn

        from nnunetv2_tmca.viewer.server import create_app
    except ImportError as e:
        raise UserInputError(f"the viewer needs the optional extra: pip install \"nnunetv2_tmca[viewer]\" ({e.name} "
                             f"is missing)") from None
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s", stream=sys.stderr)
    session, save_folder = build_session(args)
    token = secrets.token_urlsafe(24)
    sock = free_socket(args.port)
    port = sock.getsockname()[1]
    if not args.no_scoring:
        session.score_all_in_background()
    with_report = sum(c in session.reports for c in session.files)
    print(f"TMCA viewer of {len(session.files)} cases ({with_report} with a report): "
          f"http://{HOST}:{port}/?token={token}\n(open it in a browser on this machine; Ctrl+C stops)", flush=True)
    config = uvicorn.Config(create_app(session, token, save_folder), log_level="warning", access_log=False)
    try:
        uvicorn.Server(config).run(sockets=[sock])
    finally:
        session.stop()


if __name__ == "__main__":
    main()
