#!/usr/bin/python3
"""Generates the Grad-CAM references in explain/testdata/ with PyTorch 1.13 and torchvision.

    /usr/bin/python3 explain/testdata/gen_gradcam.py

cam.onnx is a seeded 3-channel CNN (conv-bn-relu-maxpool, conv-bn-relu, global average pool,
a 4-way linear layer) exported in eval mode; scene.png a 48x40 RGB image. cam.ref.npz holds
what a hook-based Grad-CAM computes in PyTorch: x, the image as torchvision's Resize(32),
CenterCrop(32), ToTensor and ImageNet Normalize make it; and for the predicted class at the
last feature map A (the second ReLU's output, 16x16; suffix _pred) and for the least likely
class at the first ReLU's output (32x32; suffix _other): the class, its score (logit), the
class-activation map cam = relu(sum_k alpha_k A_k), alpha_k the spatial mean of
d score / d A_k, and heat, cam upsampled to 32x32 by F.interpolate(mode="bilinear",
align_corners=False) and divided by its maximum.
"""
import os

import numpy as np
import torch
import torch.nn.functional as F
import torchvision.transforms as T
from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))


class Net(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = torch.nn.Conv2d(3, 8, 3, padding=1)
        self.bn1 = torch.nn.BatchNorm2d(8)
        self.relu1 = torch.nn.ReLU()
        self.conv2 = torch.nn.Conv2d(8, 16, 3, padding=1)
        self.bn2 = torch.nn.BatchNorm2d(16)
        self.relu2 = torch.nn.ReLU()
        self.fc = torch.nn.Linear(16, 4)

    def forward(self, x):
        x = F.max_pool2d(self.relu1(self.bn1(self.conv1(x))), 2)
        x = self.relu2(self.bn2(self.conv2(x)))
        return self.fc(x.mean((2, 3)))


def main():
    torch.manual_seed(4)
    net = Net()
    with torch.no_grad():  # running statistics away from 0/1, so that eval-mode BN matters
        for bn in (net.bn1, net.bn2):
            bn.running_mean.uniform_(-0.2, 0.2)
            bn.running_var.uniform_(0.5, 1.5)
        net.fc.weight.mul_(20)  # class scores well apart
    net.eval()
    torch.onnx.export(net, torch.zeros(1, 3, 32, 32), os.path.join(HERE, "cam.onnx"),
                      input_names=["x"], output_names=["logits"],
                      dynamic_axes={"x": {0: "batch"}, "logits": {0: "batch"}}, opset_version=13)

    rng = np.random.default_rng(7)
    yy, xx = np.mgrid[0:40, 0:48]
    img = np.stack([xx * 5, yy * 6, 255 - xx * 4], -1).astype(np.float64)
    img[10:25, 20:35] = [240, 30, 30]  # a red block the map can find
    img += rng.normal(0, 12, img.shape)
    Image.fromarray(np.clip(img, 0, 255).astype(np.uint8)).save(os.path.join(HERE, "scene.png"))

    tf = T.Compose([T.Resize(32), T.CenterCrop(32), T.ToTensor(),
                    T.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])])
    x = tf(Image.open(os.path.join(HERE, "scene.png")).convert("RGB"))[None]
    feats = {}
    net.relu1.register_forward_hook(lambda m, i, o: feats.__setitem__("relu1", o))
    net.relu2.register_forward_hook(lambda m, i, o: feats.__setitem__("relu2", o))
    out = {"x": x.numpy()}

    def gradcam(c, layer):
        z = net(x)
        A = feats[layer]
        A.retain_grad()
        c = int(z.argmax(1)) if c is None else c
        z[0, c].backward()
        net.zero_grad()
        alpha = A.grad.mean((2, 3), keepdim=True)
        cam = torch.relu((alpha * A).sum(1))[0].detach()
        return c, z[0, c].detach(), cam

    pred = gradcam(None, "relu2")
    # The other case: the least likely class, at the first ReLU's 32x32 map.
    other = gradcam(int(net(x).argmin(1)), "relu1")
    for tag, (c, score, cam) in (("pred", pred), ("other", other)):
        heat = F.interpolate(cam[None, None], size=(32, 32), mode="bilinear", align_corners=False)[0, 0]
        out[f"class_{tag}"] = np.array(c, np.int64)
        out[f"score_{tag}"] = score.numpy()
        out[f"cam_{tag}"] = cam.numpy()
        out[f"heat_{tag}"] = (heat / heat.max()).numpy()
    np.savez(os.path.join(HERE, "cam.ref.npz"), **out)
    print({k: (v.shape, v.dtype) for k, v in out.items()})


if __name__ == "__main__":
    main()
