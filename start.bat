@echo off
rem LoRA Desk, double-click start (Windows).  The first run creates .venv beside this file and installs the
rem app into it -- torch's CUDA build when nvidia-smi reports an NVIDIA GPU, else the CPU build -- showing each
rem step and pip's download progress; later runs start the app at once.  Arguments are passed to main.py.
rem Delete the .venv folder to install again.
setlocal EnableExtensions
cd /d "%~dp0"
if defined LORA_DESK_VENV (set "VENV=%LORA_DESK_VENV%") else (set "VENV=%~dp0.venv")
set "READY=%VENV%\.lora-desk-ready"
set "LOG=%~dp0.venv-setup.log"

if exist "%READY%" goto run

echo LoRA Desk: first start, setting up (a few minutes; torch is a large download).
echo. > "%LOG%"

echo.
echo [1/4] Finding Python 3.10 or newer
set "PY="
for %%V in (3.11 3.12 3.13 3.10) do (
    if not defined PY (
        py -%%V -c "import venv" >nul 2>&1 && set "PY=py -%%V"
    )
)
if not defined PY (
    python -c "import sys, venv; sys.exit(0 if sys.version_info >= (3, 10) else 1)" >nul 2>&1 && set "PY=python"
)
if not defined PY (
    call :fail "no Python 3.10+ found: install Python 3.11 from python.org (tick 'Add python.exe to PATH')"
    exit /b 1
)
echo using %PY%
if not exist "%VENV%\Scripts\python.exe" (
    %PY% -m venv "%VENV%" >> "%LOG%" 2>&1 || (call :fail "could not create %VENV%" & exit /b 1)
)
"%VENV%\Scripts\python.exe" -m pip install --upgrade pip >> "%LOG%" 2>&1

echo.
echo [2/4] Choosing the torch build (nvidia-smi)
set "TORCH_ARGS="
for /f "delims=" %%A in ('"%VENV%\Scripts\python.exe" packaging\pick_torch.py --pip-args') do set "TORCH_ARGS=%%A"
if not defined TORCH_ARGS (call :fail "could not choose a torch build" & exit /b 1)
"%VENV%\Scripts\python.exe" -c "import sys; sys.argv=['pick_torch']; sys.path.insert(0, 'packaging'); import pick_torch as p; print(p.pick_torch(p.run_nvidia_smi()).reason)"

echo.
echo [3/4] Installing torch (%TORCH_ARGS%)
"%VENV%\Scripts\python.exe" -m pip install --progress-bar on %TORCH_ARGS% || (call :fail "pip could not install torch" & exit /b 1)

echo.
echo [4/4] Installing LoRA Desk and its libraries
"%VENV%\Scripts\python.exe" -m pip install --progress-bar on -e . || (call :fail "pip could not install the app's libraries" & exit /b 1)

"%VENV%\Scripts\python.exe" main.py --version >> "%LOG%" 2>&1 || (call :fail "the app does not start (main.py --version)" & exit /b 1)
echo done> "%READY%"
echo Set-up done. Starting LoRA Desk.

:run
rem pythonw: no console window behind the app (command-line tools still print in a cmd window with python.exe)
if "%~1"=="" (
    start "" "%VENV%\Scripts\pythonw.exe" "%~dp0main.py"
    exit /b 0
)
"%VENV%\Scripts\python.exe" "%~dp0main.py" %*
exit /b %ERRORLEVEL%

:fail
echo.
echo Set-up failed: %~1
echo The log is %LOG%. Fix the problem and run start.bat again.
pause
exit /b 1
