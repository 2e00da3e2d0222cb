# Upper bound for the data-free student: the same ResNet-18 (base width 16)
# trained on real Fashion-MNIST with the teacher's recipe.
_base_ = './resnet34_fmnist_teacher.py'

model = _base_.resnet18_fmnist
