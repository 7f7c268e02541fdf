#!/usr/bin/python3
"""PyTorch references for onnxtune's optimizers (train/optim.go) and learning-rate schedules
(train/schedule.go).

Usage (Debian's /usr/bin/python3, which has torch 1.13):

    /usr/bin/python3 train/testdata/gen_optim.py

writes train/testdata/optim.npz and train/testdata/schedule.json (deterministic: re-running
gives the same bytes on the same CPU; PyTorch's float32 kernels use FMA where the CPU has it,
so the optimizer references are those of an AVX2 build).

optim.npz. Under "cases", a JSON list (as UTF-8 bytes) of
    {"name", "optimizer", "config", "lrs", "params"}
where optimizer is "sgd", "adam" or "adamw", config holds the keyword arguments given to
torch.optim (the names of onnxtune's OptimizerConfig, see CONFIG_KEYS), lrs the learning rate
of each step and params the parameter names. For each case C, parameter P and step t
(0-based):
    C/init/P          the parameter before the first step (float32)
    C/grads/P         its gradient at every step, stacked: [steps, *shape]; the rows of the
                      steps where it has none (grad None: PyTorch skips it and does not count
                      the step) are NaN
    C/params/P        the parameter after every step, stacked: [steps, *shape]
    C/state/P/B       the optimizer's buffer B after the last step (momentum_buffer, exp_avg,
                      exp_avg_sq, max_exp_avg_sq; step as int64)
"validation", a JSON list (as bytes) of {"optimizer", "config", "accepted"}: whether the
torch.optim constructor accepts the configuration (learning rate 0.01).

schedule.json: {"cases": [{"name", "schedule", "base_lr", "steps_per_epoch", "epochs",
"warmup", "step_size", "gamma", "lrs"}]}, lrs being the learning rate of every optimizer step
of the run as PyTorch's schedulers set it, stepped as a training loop does:
    constant  no scheduler
    step      StepLR(step_size, gamma), stepped after every epoch
    cosine    CosineAnnealingLR(T_max = steps_per_epoch * epochs), stepped after every step
    warm-up   LinearLR(start_factor=1/W, end_factor=1, total_iters=W-1), stepped after every
              step together with the main scheduler (chained: both scale the same lr, as
              ChainedScheduler does), so step s < W runs at main(s) * (s+1)/W.
"""

import io
import json
import os
import warnings
import zipfile

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
STEPS = 6
SHAPES = {"conv.weight": (2, 1, 3, 3), "fc.weight": (6, 7), "fc.bias": (5,)}
# Per step, how the gradients are scaled (amsgrad's maximum must matter) and which parameter
# has no gradient at that step.
GRAD_SCALE = [1.0, 3.0, 0.1, 2.0, 1e-3, 1.0]
NO_GRAD = {2: "fc.bias", 4: "conv.weight"}

# (name, optimizer, config, base lr). The config keys are torch.optim's.
CASES = [
    ("sgd", "sgd", {}, 0.1),
    ("sgd_momentum", "sgd", {"momentum": 0.9}, 0.1),
    ("sgd_momentum_dampening", "sgd", {"momentum": 0.9, "dampening": 0.3}, 0.1),
    ("sgd_nesterov", "sgd", {"momentum": 0.8, "nesterov": True}, 0.1),
    ("sgd_weight_decay", "sgd", {"weight_decay": 1e-2}, 0.1),
    ("sgd_momentum_weight_decay", "sgd", {"momentum": 0.9, "dampening": 0.1, "weight_decay": 5e-4}, 0.05),
    ("sgd_nesterov_weight_decay", "sgd", {"momentum": 0.9, "nesterov": True, "weight_decay": 1e-3}, 0.05),
    ("adam", "adam", {}, 1e-2),
    ("adam_weight_decay", "adam", {"weight_decay": 0.1}, 1e-2),
    ("adam_amsgrad", "adam", {"amsgrad": True}, 1e-2),
    ("adam_betas_eps", "adam", {"betas": (0.5, 0.9), "eps": 1e-3}, 1e-2),
    ("adam_beta1_zero", "adam", {"betas": (0.0, 0.99)}, 1e-3),
    ("adam_amsgrad_weight_decay", "adam", {"amsgrad": True, "weight_decay": 1e-2, "betas": (0.8, 0.95), "eps": 1e-6}, 3e-2),
    ("adamw", "adamw", {}, 1e-2),
    ("adamw_no_decay", "adamw", {"weight_decay": 0.0}, 1e-2),
    ("adamw_amsgrad", "adamw", {"amsgrad": True, "weight_decay": 0.1, "betas": (0.8, 0.99), "eps": 1e-6}, 3e-2),
]

# Constructor arguments PyTorch must accept or reject.
VALIDATION = [
    ("sgd", {"momentum": -0.1}),
    ("sgd", {"weight_decay": -1e-4}),
    ("sgd", {"nesterov": True}),
    ("sgd", {"momentum": 0.9, "dampening": 0.1, "nesterov": True}),
    ("sgd", {"momentum": 0.9, "nesterov": True}),
    ("sgd", {"momentum": 0.9, "dampening": 1.0}),
    ("adam", {"betas": (1.0, 0.999)}),
    ("adam", {"betas": (0.9, 1.0)}),
    ("adam", {"betas": (-0.1, 0.999)}),
    ("adam", {"betas": (0.0, 0.0)}),
    ("adam", {"eps": -1e-8}),
    ("adam", {"eps": 0.0}),
    ("adam", {"weight_decay": -0.1}),
    ("adamw", {"weight_decay": -0.1}),
    ("adamw", {"betas": (0.9, 1.5)}),
    ("adamw", {"amsgrad": True, "weight_decay": 0.0}),
]

OPTIMIZERS = {"sgd": torch.optim.SGD, "adam": torch.optim.Adam, "adamw": torch.optim.AdamW}


def run_case(name, opt_name, config, base_lr, rng):
    params = {p: torch.nn.Parameter(torch.from_numpy(rng.standard_normal(s).astype(np.float32)))
              for p, s in SHAPES.items()}
    opt = OPTIMIZERS[opt_name](list(params.values()), lr=base_lr, foreach=False, **config)
    arrays = {f"{name}/init/{p}": v.detach().numpy().copy() for p, v in params.items()}
    lrs = [base_lr * (1 - 0.1 * t) for t in range(STEPS)]
    grads = {p: np.full((STEPS,) + v.shape, np.nan, dtype=np.float32) for p, v in params.items()}
    after = {p: np.zeros((STEPS,) + v.shape, dtype=np.float32) for p, v in params.items()}
    for t in range(STEPS):
        for group in opt.param_groups:
            group["lr"] = lrs[t]
        for p, v in params.items():
            if NO_GRAD.get(t) == p:
                v.grad = None
                continue
            g = (rng.standard_normal(v.shape) * GRAD_SCALE[t]).astype(np.float32)
            v.grad = torch.from_numpy(g)
            grads[p][t] = g
        opt.step()
        for p, v in params.items():
            after[p][t] = v.detach().numpy()
    for p in params:
        arrays[f"{name}/grads/{p}"] = grads[p]
        arrays[f"{name}/params/{p}"] = after[p]
    for p, v in params.items():
        for buf, value in opt.state[v].items():
            if value is None:  # SGD without momentum keeps momentum_buffer None
                continue
            if buf == "step":
                value = np.array(int(value.item()), dtype=np.int64)
            else:
                value = value.numpy().copy()
            arrays[f"{name}/state/{p}/{buf}"] = value
    meta = dict(name=name, optimizer=opt_name, config=config_json(config), lrs=lrs, params=list(SHAPES))
    return arrays, meta


def config_json(config):
    out = {}
    for k, v in config.items():
        if k == "betas":
            out["beta1"], out["beta2"] = v
        else:
            out[k] = v
    return out


def accepted(opt_name, config):
    p = torch.nn.Parameter(torch.zeros(2))
    try:
        OPTIMIZERS[opt_name]([p], lr=0.01, **config)
    except ValueError:
        return False
    return True


# (name, schedule, base lr, steps per epoch, epochs, warm-up steps, step size, gamma)
SCHEDULES = [
    ("constant", "constant", 0.1, 7, 3, 0, 0, 0.0),
    ("constant_warmup", "constant", 0.1, 7, 3, 10, 0, 0.0),
    ("constant_warmup_1", "constant", 0.1, 7, 3, 1, 0, 0.0),
    ("constant_warmup_long", "constant", 0.01, 4, 2, 20, 0, 0.0),
    ("step", "step", 0.1, 7, 6, 0, 2, 0.1),
    ("step_every_epoch", "step", 0.05, 5, 20, 0, 1, 0.5),
    ("step_warmup", "step", 0.1, 7, 6, 12, 1, 0.3),
    ("cosine", "cosine", 0.1, 7, 3, 0, 0, 0.0),
    ("cosine_warmup", "cosine", 0.1, 7, 3, 5, 0, 0.0),
    ("cosine_long", "cosine", 0.05, 100, 10, 0, 0, 0.0),
    ("cosine_long_warmup", "cosine", 3e-4, 250, 4, 300, 0, 0.0),
    ("cosine_one_step", "cosine", 0.1, 1, 1, 0, 0, 0.0),
]


def schedule_lrs(kind, base_lr, steps_per_epoch, epochs, warmup, step_size, gamma):
    p = torch.nn.Parameter(torch.zeros(1))
    p.grad = torch.zeros(1)
    opt = torch.optim.SGD([p], lr=base_lr)
    total = steps_per_epoch * epochs
    warm = None
    if warmup > 0:
        warm = torch.optim.lr_scheduler.LinearLR(opt, start_factor=1 / warmup, end_factor=1.0, total_iters=warmup - 1)
    main = None
    if kind == "cosine":
        main = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=total)
    elif kind == "step":
        main = torch.optim.lr_scheduler.StepLR(opt, step_size=step_size, gamma=gamma)
    lrs = []
    for s in range(total):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        if warm is not None:
            warm.step()
        if kind == "cosine" or (kind == "step" and (s + 1) % steps_per_epoch == 0):
            main.step()
    return lrs


def main():
    warnings.filterwarnings("ignore")  # LinearLR warns about total_iters=0 for one step
    rng = np.random.default_rng(20240611)
    arrays, meta = {}, []
    for name, opt_name, config, lr in CASES:
        a, m = run_case(name, opt_name, config, lr, rng)
        arrays.update(a)
        meta.append(m)
    validation = [dict(optimizer=o, config=config_json(c), accepted=accepted(o, c)) for o, c in VALIDATION]
    arrays["cases"] = np.frombuffer(json.dumps(meta, indent=0).encode(), dtype=np.uint8)
    arrays["validation"] = np.frombuffer(json.dumps(validation, indent=0).encode(), dtype=np.uint8)
    path = os.path.join(HERE, "optim.npz")
    # np.savez with a fixed entry time, so that regenerating identical arrays gives identical bytes.
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for k, v in arrays.items():
            buf = io.BytesIO()
            np.lib.format.write_array(buf, np.asarray(v), allow_pickle=False)
            info = zipfile.ZipInfo(k + ".npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, buf.getvalue())
    print(f"wrote {len(CASES)} optimizer cases to {path} ({os.path.getsize(path)} bytes)")

    cases = []
    for name, kind, base_lr, spe, epochs, warmup, step_size, gamma in SCHEDULES:
        cases.append(dict(name=name, schedule=kind, base_lr=base_lr, steps_per_epoch=spe, epochs=epochs,
                          warmup=warmup, step_size=step_size, gamma=gamma,
                          lrs=schedule_lrs(kind, base_lr, spe, epochs, warmup, step_size, gamma)))
    path = os.path.join(HERE, "schedule.json")
    with open(path, "w") as f:
        json.dump(dict(cases=cases), f, indent=0)
        f.write("\n")
    print(f"wrote {len(cases)} schedules to {path} ({os.path.getsize(path)} bytes)")


if __name__ == "__main__":
    main()
