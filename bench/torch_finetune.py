"""PyTorch side of bench/run.sh's classifier-only fine-tuning: torchvision resnet18 with only
fc trained (Adam, lr 1e-3, cross-entropy), EPOCHS epochs over the image folder DIR (decoded as
onnxtune decodes it: ToTensor and ImageNet's Normalize, images already 224x224), batches of
BATCH shuffled each epoch, THREADS threads. Prints one JSON line with the seconds from the
first batch to the end of the last epoch, image decoding included.

    /usr/bin/python3 bench/torch_finetune.py DIR EPOCHS BATCH THREADS
"""
import json
import sys
import time

import torch
import torchvision
from torchvision import transforms

root, epochs, batch, threads = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
torch.manual_seed(0)
torch.set_num_threads(threads)
model = torchvision.models.resnet18(weights=None)
model.fc = torch.nn.Linear(512, 10)
for name, p in model.named_parameters():
    p.requires_grad = name.startswith("fc.")
model.eval()  # BatchNorm frozen, as in the BatchNorm-folded export onnxtune trains
tf = transforms.Compose([transforms.ToTensor(), transforms.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])])
data = torchvision.datasets.ImageFolder(root, transform=tf)
loader = torch.utils.data.DataLoader(data, batch_size=batch, shuffle=True)
opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=1e-3)
t = time.perf_counter()
for _ in range(epochs):
    for x, y in loader:
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model(x), y).backward()
        opt.step()
print(json.dumps({"seconds": time.perf_counter() - t}))
