--[[
    CullMenuItem.lua - Library > Plug-in Extras > "Cull with blurwatch".

    Lightroom runs this file when the menu item is chosen; the work happens in a task
    so that Lightroom stays responsive while blurwatch scores.
]]

local LrTasks = import "LrTasks"

local Cull = require "BlurwatchCull"

LrTasks.startAsyncTask(Cull.cull_selected)
