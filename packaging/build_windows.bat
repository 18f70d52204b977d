@echo off
rem Build the Windows one-folder bundle dist\LoRADesk\LoRADesk.exe with torch's CUDA build.
rem Run from a cmd window in the repository root (or double-click):  packaging\build_windows.bat [cu128]
rem
rem It makes its own build environment (.venv-build, so the everyday .venv keeps its torch), installs the CUDA
rem torch from pytorch.org's index for the CUDA tag given (default cu128: GTX 10xx .. RTX 50xx with a current
rem driver), the app with its "package" extra (PyInstaller), and runs PyInstaller on packaging\lora_desk.spec.
rem Needs Python 3.11 (py launcher), ~15 GB free disk, and network.  The result is ~4-5 GB (CUDA, cuDNN and
rem cuBLAS DLLs come with torch); zip dist\LoRADesk to ship it.  No NVIDIA GPU is needed to build.
setlocal EnableExtensions
cd /d "%~dp0\.."
set "CUDA_TAG=%~1"
if "%CUDA_TAG%"=="" set "CUDA_TAG=cu128"
set "BVENV=.venv-build"

for /f "delims=" %%A in ('py -3.11 -c "import sys; sys.path.insert(0, 'packaging'); import pick_torch; print(pick_torch.TORCH_VERSION)"') do set "TORCH_VERSION=%%A"
if not defined TORCH_VERSION (echo error: Python 3.11 not found: install it from python.org & exit /b 1)

echo [1/4] Build environment %BVENV%
if not exist "%BVENV%\Scripts\python.exe" (py -3.11 -m venv "%BVENV%" || exit /b 1)
"%BVENV%\Scripts\python.exe" -m pip install --upgrade pip || exit /b 1

echo [2/4] torch %TORCH_VERSION% (%CUDA_TAG%)
"%BVENV%\Scripts\python.exe" -m pip install "torch==%TORCH_VERSION%" --index-url https://download.pytorch.org/whl/%CUDA_TAG% --extra-index-url https://pypi.org/simple || exit /b 1

echo [3/4] LoRA Desk, its libraries and PyInstaller
"%BVENV%\Scripts\python.exe" -m pip install -e ".[package]" || exit /b 1
"%BVENV%\Scripts\python.exe" -c "import torch; print('torch', torch.__version__, 'CUDA', torch.version.cuda); assert torch.version.cuda, 'not a CUDA build'" || exit /b 1
if not exist resources\icons\lora_desk.ico ("%BVENV%\Scripts\python.exe" packaging\make_icons.py || exit /b 1)

echo [4/4] PyInstaller
"%BVENV%\Scripts\python.exe" -m PyInstaller --noconfirm --clean --log-level WARN --distpath dist --workpath build\pyinstaller packaging\lora_desk.spec || exit /b 1
"dist\LoRADesk\LoRADesk.exe" --version || exit /b 1
echo.
echo Built dist\LoRADesk\LoRADesk.exe. Try:  cd dist\LoRADesk ^&^& LoRADesk.exe demo
endlocal
